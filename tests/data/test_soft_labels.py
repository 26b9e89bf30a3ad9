"""Soft labels on a SyntheticSet: saved and loaded, validated, absent from older files."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dcl.data import SyntheticSet
from dcl.data.synthetic import SET_FORMAT
from tests.data.test_synthetic import INFO, IPC, make_set

N, K = INFO.num_classes * IPC, INFO.num_classes


def logits(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(N, K, generator=torch.Generator().manual_seed(5)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_soft_labels_round_trip_in_their_dtype(tmp_path, dtype):
    syn = make_set(soft_labels=logits(dtype))
    back = SyntheticSet.load(syn.save(tmp_path / "set.pt"))
    assert back.soft_labels.dtype == dtype
    assert torch.equal(back.soft_labels, syn.soft_labels)
    assert torch.equal(back.labels, syn.labels) and torch.equal(back.images, syn.images)


def test_a_set_made_from_a_networks_logits_keeps_them():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(INFO.channels * 16, K))
    plain = make_set()
    syn = make_set(soft_labels=net(plain.images).detach())
    assert syn.soft_labels.shape == (N, K)
    assert dataclasses.replace(plain, soft_labels=syn.soft_labels).soft_labels is syn.soft_labels


@pytest.mark.parametrize(
    ("soft", "message"),
    [
        (torch.zeros(N - 1, K), "soft_labels have shape"),
        (torch.zeros(N, K + 1), "soft_labels have shape"),
        (torch.zeros(N, K, dtype=torch.long), "floating-point logits"),
        (torch.full((N, K), float("-inf")), "finite"),
        (torch.full((N, K), float("nan")), "finite"),
        ([[0.0] * K] * N, "tensor or None"),
    ],
)
def test_bad_soft_labels_are_refused_with_what_is_wrong(soft, message):
    with pytest.raises(ValueError, match=message):
        make_set(soft_labels=soft)


def test_negative_logits_are_valid_soft_labels():
    assert make_set(soft_labels=-logits().abs()).soft_labels is not None


def test_a_file_without_soft_labels_loads_and_stays_without(tmp_path):
    syn = make_set()
    data = syn.to_dict()
    assert "soft_labels" not in data  # files of hard-label sets are what older dcl wrote
    path = tmp_path / "old.pt"
    meta = dict(data["meta"])
    meta.pop("soft_labels", None)  # written before the field existed
    torch.save({**data, "meta": meta, "format": SET_FORMAT}, path)
    assert SyntheticSet.load(path).soft_labels is None


def test_a_damaged_soft_label_file_gets_the_damaged_set_message(tmp_path):
    data = make_set(soft_labels=logits()).to_dict()
    data["soft_labels"] = data["soft_labels"][:-1]
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="damaged or inconsistent.*soft_labels have shape"):
        SyntheticSet.load(tmp_path / "bad.pt")
