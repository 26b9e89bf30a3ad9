"""Training a buffer: ZCA-whitened data, and the experts split over two processes."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from dcl.data.zca import whiten_pixels
from dcl.methods.mtt import train_experts, training_tensors
from tests.methods.mtt.conftest import SETTINGS, tiny_data


def test_zca_experts_train_on_whitened_images_and_say_so(tmp_path):
    data = tiny_data()
    data.zca = True
    buffer = train_experts(data, tmp_path, 1, SETTINGS, accelerator="cpu", progress=False)
    assert buffer.manifest["zca"] is True and buffer.manifest["zca_eps"] == 0.1
    images, _ = training_tensors(data, torch.device("cpu"))
    torch.testing.assert_close(images, whiten_pixels(data.train.images, data.whitening))
    buffer.validate("ConvNetW32", data.info, zca=True)
    with pytest.raises(ValueError, match="ZCA on vs off"):
        buffer.validate("ConvNetW32", data.info, zca=False)
    plain = tiny_data()
    with pytest.raises(ValueError, match="zca: True -> False"):
        train_experts(plain, tmp_path, 2, SETTINGS, accelerator="cpu", progress=False)


def test_no_augmentation_is_recorded_without_a_strategy(tmp_path):
    settings = replace(SETTINGS, augment="none")
    buffer = train_experts(tiny_data(), tmp_path, 1, settings, accelerator="cpu", progress=False)
    assert buffer.manifest["training"]["augment"] == "none"
    assert buffer.manifest["training"]["dsa_strategy"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"network": "ConvNett"}, "Did you mean 'ConvNet'"),
        ({"dsa_strategy": "color_spin"}, "unknown DSA op"),
        ({"momentum": -1.0}, "momentum must be >= 0"),
    ],
)
def test_bad_settings_fail_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        train_experts(tiny_data(), tmp_path, 1, replace(SETTINGS, **change), accelerator="cpu")
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.slow
def test_two_processes_train_the_experts_one_process_trains(tmp_path):
    """ddp_spawn on the CPU (gloo): each rank trains its share; no gradient is averaged."""
    common = {"accelerator": "cpu", "progress": False}
    shared = train_experts(
        tiny_data(), tmp_path / "two", 4, SETTINGS, devices=2, strategy="ddp_spawn", **common
    )
    alone = train_experts(tiny_data(), tmp_path / "one", 4, SETTINGS, **common)
    assert shared.experts == alone.experts == [0, 1, 2, 3]
    assert shared.manifest == alone.manifest
    for i in range(4):
        assert torch.equal(shared.load(i), alone.load(i))
    assert not list((tmp_path / "two").glob("*.partial.pt"))
