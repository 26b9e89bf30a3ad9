"""Storage accounting: bytes of images and labels as stored, and the ipc they are worth."""

from __future__ import annotations

import pytest
import torch

from dcl.data import DatasetInfo, SyntheticSet
from dcl.data.storage import storage_bytes

# CIFAR-10's shape: 3 x 32 x 32, 10 classes.
INFO = DatasetInfo("toy", 3, 32, 10, tuple("abcdefghij"), (0.5,) * 3, (0.25,) * 3)


def cifar_like(ipc: int, soft: torch.Tensor | None = None) -> SyntheticSet:
    images = torch.zeros(10 * ipc, 3, 32, 32)
    labels = torch.arange(10).repeat_interleave(ipc)
    return SyntheticSet(images, labels, INFO, ipc, method="dm", soft_labels=soft)


def test_hard_label_set_costs_its_float32_images_and_int64_labels():
    s = storage_bytes(cifar_like(10))
    assert s["image_bytes"] == 100 * 3 * 32 * 32 * 4 == 1_228_800
    assert s["hard_label_bytes"] == 100 * 8 and s["soft_label_bytes"] == 0
    assert s["soft_label_dtype"] is None and s["image_dtype"] == "float32"
    assert s["total_bytes"] == 1_228_800 + 800
    assert s["ipc_equivalent"] == pytest.approx(10 + 800 / (10 * 12288))
    assert s["ipc_equivalent_uint8"] == pytest.approx((1_228_800 + 800) / (10 * 3072))


@pytest.mark.parametrize(("dtype", "size"), [(torch.float32, 4), (torch.float16, 2)])
def test_soft_labels_add_n_times_k_times_their_size(dtype, size):
    s = storage_bytes(cifar_like(1, torch.zeros(10, 10, dtype=dtype)))
    assert s["soft_label_bytes"] == 10 * 10 * size
    assert s["label_bytes"] == 10 * 8 + 10 * 10 * size
    assert s["soft_label_dtype"] == str(dtype).removeprefix("torch.")
    assert s["ipc_equivalent"] == pytest.approx((10 * 12288 + 80 + 100 * size) / (10 * 12288))


def test_a_teachers_soft_labels_count_for_a_set_without_its_own():
    syn = cifar_like(1)
    assert storage_bytes(syn, torch.zeros(10, 10))["soft_label_bytes"] == 400
