"""ZCA whitening: against a plain reference, inverse, chunking, the cache and the data module."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import dcl.data.zca as zca_module
from dcl.data import ClassImages, RealDataModule
from dcl.data.splits import WhitenedImages, whiten_splits
from dcl.data.zca import (
    ZCA,
    cached_zca,
    find_zca,
    fit_zca,
    images_checksum,
    load_zca,
    unwhiten,
    whiten,
    whiten_pixels,
    zca_path,
)
from dcl.seeding import REAL, step_seed


def random_images(n: int = 600, shape: tuple[int, ...] = (3, 4, 4), seed: int = 0) -> torch.Tensor:
    """uint8 images with correlated pixels (a smooth random field plus noise)."""
    g = torch.Generator().manual_seed(seed)
    d = torch.Size(shape).numel()
    mixing = torch.randn(d, d, generator=g) / d**0.5 + torch.eye(d)
    x = torch.randn(n, d, generator=g) @ mixing * 40 + 128
    return x.clamp(0, 255).round().to(torch.uint8).view(n, *shape)


def reference(images: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The obvious way: float64 covariance of the flattened pixels, eigh, U (l + eps)^-1/2 U^T."""
    x = images.reshape(len(images), -1).double() / 255
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / (len(x) - 1)
    values, vectors = torch.linalg.eigh(cov)
    return mean, vectors @ torch.diag((values + eps) ** -0.5) @ vectors.T


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return random_images()


@pytest.mark.numerics
def test_fit_matches_the_plain_reference(images, spread):
    fit = fit_zca(images, eps=0.1)
    mean, matrix = reference(images, 0.1)
    assert fit.mean.dtype == fit.matrix.dtype == fit.inverse.dtype == torch.float32
    assert fit.matrix.shape == fit.inverse.shape == (48, 48) and fit.mean.shape == (48,)
    assert (fit.eps, fit.checksum) == (0.1, images_checksum(images))
    assert torch.allclose(fit.mean.double(), mean, atol=1e-7)
    # float32 storage of float64 results: a few units of float32 rounding, relative.
    spread(float((fit.matrix.double() - matrix).abs().max() / matrix.abs().max()), 1e-6)


@pytest.mark.numerics
def test_unwhiten_inverts_whiten(images, spread):
    fit = fit_zca(images, eps=0.1)
    x = images.float() / 255
    back = unwhiten(whiten(x, fit), fit)
    assert back.shape == x.shape
    # Two float32 48-wide products, amplified by at most sqrt(cond) = sqrt((l_max + eps) / eps),
    # about 3: measured 4e-7.
    spread(float((back - x).abs().max()), 1e-5)


@pytest.mark.numerics
def test_whitened_training_data_has_identity_covariance(spread):
    images = random_images(n=4000, shape=(2, 2, 3), seed=1)  # well conditioned, N >> D = 12
    fit = fit_zca(images, eps=1e-12)
    white = whiten(images.float() / 255, fit).reshape(len(images), -1).double()
    assert white.mean(0).abs().max() < 1e-4
    cov = torch.cov(white.T)
    # Unit-scale values through a float32 12-wide product: a few float32 roundings (about 3e-7).
    spread(float((cov - torch.eye(12, dtype=torch.float64)).abs().max()), 1e-5)


@pytest.mark.numerics
def test_chunked_fit_equals_the_whole_one(images, spread):
    whole, chunked = fit_zca(images, chunk=len(images)), fit_zca(images, chunk=7)
    assert whole.checksum == chunked.checksum
    for name in ("mean", "matrix", "inverse"):
        a, b = getattr(whole, name), getattr(chunked, name)
        spread(float((a - b).abs().max() / a.abs().max()), 1e-6)


def test_float_images_are_fitted_as_given(images):
    as_float = fit_zca(images.float() / 255, eps=0.1)
    as_uint8 = fit_zca(images, eps=0.1)
    assert torch.allclose(as_float.matrix, as_uint8.matrix, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eps", [0, -1.0, float("nan"), True])
def test_bad_eps_is_refused(images, eps):
    with pytest.raises(ValueError, match="eps"):
        fit_zca(images, eps=eps)


def test_whiten_pixels_is_whiten_of_unit_pixels(images):
    fit = fit_zca(images)
    assert torch.equal(whiten_pixels(images[:5], fit), whiten(images[:5].float() / 255, fit))


def test_cache_round_trip(images, tmp_path, monkeypatch):
    first = cached_zca(images, 0.1, "toy", tmp_path)
    path = zca_path("toy", first.checksum, 0.1, tmp_path)
    assert path.is_file() and path.name == f"zca-toy-{first.checksum:08x}-eps0.1.pt"

    def refuse(*args, **kwargs):
        raise AssertionError("refitted although cached")

    monkeypatch.setattr(zca_module, "fit_zca", refuse)
    again = cached_zca(images, 0.1, "toy", tmp_path)
    for name in ("mean", "matrix", "inverse"):
        assert torch.equal(getattr(again, name), getattr(first, name))
    assert (again.eps, again.checksum) == (first.eps, first.checksum)
    found = find_zca(first.checksum, 0.1, tmp_path)
    assert found is not None and torch.equal(found.matrix, first.matrix)
    assert find_zca(first.checksum, 0.2, tmp_path) is None
    assert find_zca(first.checksum + 1, 0.1, tmp_path) is None


def test_damaged_or_foreign_cache_is_refitted(images, tmp_path):
    fit = cached_zca(images, 0.1, "toy", tmp_path)
    path = zca_path("toy", fit.checksum, 0.1, tmp_path)
    entry = torch.load(path, weights_only=True)
    entry["matrix"][0, 0] += 1.0
    torch.save(entry, path)
    with pytest.raises(ValueError, match="damaged"):
        load_zca(path)
    with pytest.warns(UserWarning, match="Refitting ZCA cache"):
        again = cached_zca(images, 0.1, "toy", tmp_path)
    assert torch.equal(again.matrix, fit.matrix)
    assert load_zca(path, fit.checksum, 0.1).eps == 0.1  # rewritten sound
    with pytest.raises(ValueError, match="other images"):
        load_zca(path, checksum=fit.checksum + 1)
    with pytest.raises(ValueError, match="eps"):
        load_zca(path, eps=0.2)


def test_whiten_splits_checks_the_expected_checksum(digits, tmp_path):
    train, test = digits
    _, _, fit = whiten_splits(train, test, 0.1, tmp_path)
    with pytest.raises(ValueError, match="checksum"):
        whiten_splits(train, test, 0.1, tmp_path, expect=fit.checksum + 1)


# ------------------------------------------------------------------------------- data module
@pytest.fixture(scope="module")
def modules(digits_cache: Path) -> tuple[RealDataModule, RealDataModule]:
    plain = RealDataModule("digits", cache_dir=str(digits_cache), seed=5)
    white = RealDataModule("digits", cache_dir=str(digits_cache), seed=5, zca=True)
    plain.setup(), white.setup()
    return plain, white


def test_module_serves_whitened_batches_when_on(modules):
    plain, white = modules
    assert isinstance(white.train, WhitenedImages) and isinstance(white.test, WhitenedImages)
    fit = white.whitening
    assert isinstance(fit, ZCA) and fit.eps == 0.1
    assert torch.equal(white.train.images, plain.train.images)  # the same uint8 storage
    batch = white.real_batch(3, step=4)
    g = torch.Generator().manual_seed(step_seed(5, 0, 4, REAL))
    index = plain.train.sample_indices(3, g)
    assert torch.equal(batch, whiten_pixels(plain.train.images[index], fit))
    images, labels = next(iter(white.test_dataloader()))
    assert images.dtype == torch.float32 and torch.equal(labels, white.test.labels[: len(labels)])
    assert torch.equal(images, whiten_pixels(white.test.images[: len(images)], fit))


def test_module_is_unchanged_when_off(modules, digits_cache):
    plain, _ = modules
    assert type(plain.train) is ClassImages and plain.whitening is None
    reference = ClassImages(plain.train.images, plain.train.labels, plain.info)
    g = torch.Generator().manual_seed(step_seed(5, 0, 4, REAL))
    assert torch.equal(plain.real_batch(3, step=4), reference.sample(3, g))
    images, _ = next(iter(plain.test_dataloader()))
    assert images.dtype == torch.uint8


def test_whitened_module_pickles_and_moves_its_fit(modules):
    _, white = modules
    copy = pickle.loads(pickle.dumps(white))
    assert torch.equal(copy.real_batch(2, step=1), white.real_batch(2, step=1))
    assert copy.train.to("cpu").zca.device == torch.device("cpu")
    assert torch.equal(copy.whitening.matrix, white.whitening.matrix)


def test_whitening_stays_float32_under_autocast(images):
    fit = fit_zca(images)
    x = images[:8].float() / 255
    with torch.autocast("cpu", dtype=torch.bfloat16):
        white = whiten(x, fit)
    assert white.dtype == torch.float32 and torch.equal(white, whiten(x, fit))
