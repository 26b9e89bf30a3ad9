"""SyntheticSet with ZCA metadata and a learned learning rate: files, old files and pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcl.data import DatasetInfo, SyntheticSet
from dcl.data.zca import cached_zca, fit_zca, whiten
from tests.data.test_zca import random_images

INFO = DatasetInfo("toy", 3, 4, 3, ("a", "b", "c"), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
IPC = 2


@pytest.fixture(scope="module")
def fit():
    return fit_zca(random_images(shape=(3, 4, 4)), eps=0.1)


def pictures() -> torch.Tensor:
    """``(6, 3, 4, 4)`` pixels in [0, 1]: a flat grey per class, a gradient across images."""
    level = torch.tensor([0.2, 0.5, 0.8]).repeat_interleave(IPC) + torch.tensor([0.0, 0.1] * 3)
    return level.view(-1, 1, 1, 1).expand(-1, 3, 4, 4).clone()


def whitened_set(fit, **kwargs) -> SyntheticSet:
    labels = torch.arange(3).repeat_interleave(IPC)
    return SyntheticSet(whiten(pictures(), fit), labels, INFO, IPC, "mtt", **kwargs)


def test_zca_and_lr_round_trip(fit, tmp_path):
    syn = whitened_set(fit, whitening=fit, lr=0.0123)
    assert syn.zca == {"eps": 0.1, "checksum": fit.checksum, "input": "pixels"}
    data = torch.load(syn.save(tmp_path / "set.pt"), weights_only=True)
    assert "whitening" not in data["meta"]  # the fit stays out of the file: its metadata is in
    back = SyntheticSet.load(tmp_path / "set.pt")
    assert back.zca == syn.zca and back.lr == 0.0123 and back.whitening is None


def test_sets_written_before_zca_and_lr_still_load(tmp_path):
    labels = torch.arange(3).repeat_interleave(IPC)
    path = SyntheticSet(torch.randn(6, 3, 4, 4), labels, INFO, IPC, "dm").save(tmp_path / "s.pt")
    data = torch.load(path, weights_only=True)
    del data["meta"]["zca"], data["meta"]["lr"]  # as an older dcl wrote it
    torch.save(data, path)
    back = SyntheticSet.load(path)
    assert back.zca is None and back.lr is None and back.method == "dm"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": float("inf")}, "lr must be a finite number"),
        ({"lr": "0.1"}, "lr must be a finite number"),
        ({"zca": {"eps": 0.1}}, "zca must be a dict"),
        ({"zca": {"eps": 0, "checksum": 3}}, "zca must be a dict"),
    ],
)
def test_bad_zca_or_lr_is_refused(fit, kwargs, message):
    with pytest.raises(ValueError, match=message):
        whitened_set(fit, **kwargs)


def test_a_diverged_learned_lr_is_kept(fit, tmp_path):
    syn = whitened_set(fit, lr=-0.002)  # MTT leaves its lr unconstrained: lose no set
    assert SyntheticSet.load(syn.save(tmp_path / "s.pt")).lr == -0.002


def test_whitening_must_be_the_fit_zca_describes(fit):
    with pytest.raises(ValueError, match="whitening is not the fit zca describes"):
        whitened_set(fit, whitening=fit, zca={"eps": 0.2, "checksum": fit.checksum})


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def cells(pixels: np.ndarray, side: int = 4, pad: int = 2) -> list[np.ndarray]:
    """The images of a grid picture at scale 1, row by row."""
    out = []
    for c in range(3):
        for i in range(IPC):
            y, x = pad + c * (side + pad), pad + i * (side + pad)
            out.append(pixels[y : y + side, x : x + side])
    return out


def test_png_of_a_whitened_set_is_the_unwhitened_picture(fit, tmp_path):
    syn = whitened_set(fit, whitening=fit)
    got = cells(read_png(syn.save_png(tmp_path / "set.png", scale=1)))
    for cell, expected in zip(got, pictures(), strict=True):
        want = (expected.permute(1, 2, 0).numpy() * 255).round()
        assert np.abs(cell - want).max() <= 1
    assert torch.allclose(syn.denormalized(), pictures(), atol=1e-5)


def test_a_loaded_whitened_set_finds_its_cached_fit(tmp_path, monkeypatch):
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path / "cache"))
    fit = cached_zca(random_images(shape=(3, 4, 4)), 0.1, "toy")  # as a data module caches it
    path = whitened_set(fit, whitening=fit).save(tmp_path / "set.pt")
    back = SyntheticSet.load(path)
    assert torch.allclose(back.denormalized(), pictures(), atol=1e-5)


def test_without_its_fit_a_whitened_set_is_shown_min_max_scaled(fit, tmp_path, monkeypatch):
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path / "empty"))
    syn = SyntheticSet.load(whitened_set(fit, whitening=fit).save(tmp_path / "set.pt"))
    with pytest.warns(UserWarning, match="not in the cache"):
        shown = syn.denormalized()
    assert shown.shape == syn.images.shape and shown.min() >= 0 and shown.max() <= 1
