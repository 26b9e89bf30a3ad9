"""``RealDataModule.from_tensors``: your own tensors behave as a registered dataset does."""

from __future__ import annotations

import pickle
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from dcl.augmentation import DSA_STRATEGY_FULL, default_dsa_strategy
from dcl.data import ClassImages, RealDataModule
from dcl.seeding import REAL, step_seed

K, PER_CLASS, TEST_PER_CLASS = 3, 5, 2


def make_split(per_class: int, seed: int, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 8x8 images, ``per_class`` of each of K classes, in shuffled order."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (K * per_class, channels, 8, 8), generator=g, dtype=torch.uint8)
    labels = torch.arange(K).repeat(per_class)  # 0, 1, 2, 0, 1, 2, ...: not sorted by class
    return images, labels


@pytest.fixture
def tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (*make_split(PER_CLASS, 0), *make_split(TEST_PER_CLASS, 1))


def reference_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std in [0, 1] units, in float64."""
    x = images.double().div(255).transpose(0, 1).reshape(images.shape[1], -1)
    return x.mean(1).tolist(), x.std(1, correction=0).tolist()


def fake_trainer(rank: int) -> SimpleNamespace:
    return SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device("cpu")), global_rank=rank
    )


def test_uint8_tensors_are_stored_as_given_with_measured_statistics(tensors) -> None:
    x, y, tx, ty = tensors
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty))
    info = dm.info  # before setup, like a registry dataset
    assert (info.name, info.channels, info.image_size, info.num_classes) == ("tensors", 1, 8, K)
    assert info.class_names == ("0", "1", "2")
    mean, std = reference_stats(x)
    assert info.mean == pytest.approx(mean, abs=1e-12) and info.std == pytest.approx(std, abs=1e-12)
    dm.setup("fit")
    assert isinstance(dm.train, ClassImages) and dm.train.images.dtype == torch.uint8
    order = torch.argsort(y, stable=True)
    assert torch.equal(dm.train.images, x[order]) and torch.equal(dm.train.labels, y[order])
    assert dm.train.counts.tolist() == [PER_CLASS] * K and dm.info == info


def test_float_input_in_unit_range_gives_the_same_module(tensors) -> None:
    x, y, tx, ty = tensors
    as_uint8 = RealDataModule.from_tensors(x, y, test=(tx, ty))
    as_float = RealDataModule.from_tensors(x.double() / 255, y, test=(tx.float() / 255, ty))
    as_uint8.setup()
    as_float.setup()
    assert torch.equal(as_float.train.images, as_uint8.train.images)
    assert torch.equal(as_float.test.images, as_uint8.test.images)
    assert as_float.info == as_uint8.info


def test_float_pixels_between_levels_are_quantised_to_the_nearest_levels(tensors) -> None:
    _, y, tx, ty = tensors
    x = torch.rand(len(y), 1, 8, 8, generator=torch.Generator().manual_seed(2))
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty))
    dm.setup()
    stored = dm.train.images.double()
    assert ((stored - x[torch.argsort(y, stable=True)].double() * 255).abs() < 1).all()


def test_given_statistics_and_names_are_used_for_normalisation(tensors) -> None:
    x, y, tx, ty = tensors
    names = ["cat", "dog", "owl"]
    dm = RealDataModule.from_tensors(
        x, y, test=(tx, ty), mean=[0.25], std=[0.5], class_names=names, name="pets", seed=4
    )
    assert (dm.info.mean, dm.info.std) == ((0.25,), (0.5,))
    assert dm.info.class_names == tuple(names) and dm.info.name == "pets"
    batch = dm.real_batch(2, step=0).double()
    indices = dm.train.sample_indices(2, torch.Generator().manual_seed(step_seed(4, 0, 0, REAL)))
    expected = (dm.train.images[indices].double() / 255 - 0.25) / 0.5
    torch.testing.assert_close(batch, expected, atol=1e-6, rtol=0)


def test_sampling_is_class_balanced_and_returns_the_given_images(tensors) -> None:
    x, y, tx, ty = tensors
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty), seed=1)
    batch = dm.real_batch(4)
    assert batch.shape == (K, 4, 1, 8, 8)
    mean, std = dm.info.mean[0], dm.info.std[0]
    pixels = (batch.double() * std + mean).mul(255).round().to(torch.uint8)
    given = {c: {bytes(img.numpy()) for img in x[y == c]} for c in range(K)}
    for c in range(K):
        drawn = [bytes(img.numpy()) for img in pixels[c]]
        assert len(set(drawn)) == 4 and set(drawn) <= given[c]  # distinct images of class c


def test_test_dataloader_yields_every_test_image_once(tensors) -> None:
    x, y, tx, ty = tensors
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty), test_batch_size=4)
    batches = list(dm.test_dataloader())
    assert len(batches) == 2
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    seen = Counter(zip(map(bytes, images.numpy()), labels.tolist(), strict=True))
    assert seen == Counter(zip(map(bytes, tx.numpy()), ty.tolist(), strict=True))


def test_setup_on_the_trainers_device_seeds_with_seed_plus_rank(tensors) -> None:
    x, y, tx, ty = tensors
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty), seed=5)
    dm.trainer = fake_trainer(2)
    dm.setup("fit")
    assert dm.rank == 2 and dm.train.device == torch.device("cpu")
    assert torch.equal(dm.real_batch(3), dm.train.sample(3, torch.Generator().manual_seed(7)))


def test_the_module_survives_pickling_with_its_data(tensors) -> None:
    x, y, tx, ty = tensors
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty), seed=3, class_names=["a", "b", "c"])
    copy = pickle.loads(pickle.dumps(dm))  # what DDP spawn does before setup
    assert copy.info == dm.info
    assert torch.equal(copy.real_batch(2, step=5), dm.real_batch(2, step=5))
    assert torch.equal(next(iter(copy.test_dataloader()))[0], next(iter(dm.test_dataloader()))[0])


def test_colour_images_get_per_channel_statistics() -> None:
    x, y = make_split(PER_CLASS, 0, channels=3)
    tx, ty = make_split(TEST_PER_CLASS, 1, channels=3)
    info = RealDataModule.from_tensors(x, y, test=(tx, ty)).info
    mean, std = reference_stats(x)
    assert info.channels == 3 and info.mean == pytest.approx(mean, abs=1e-12)
    assert info.std == pytest.approx(std, abs=1e-12)


def test_an_unregistered_name_gets_the_default_dsa_strategy(tensors) -> None:
    x, y, tx, ty = tensors
    dm = RealDataModule.from_tensors(x, y, test=(tx, ty), name="my-scans")
    assert default_dsa_strategy(dm.info.name) == DSA_STRATEGY_FULL


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"images": lambda x: x[:, 0]}, ValueError, r"unsqueeze\(1\)"),
        ({"images": lambda x: x.permute(0, 2, 3, 1).repeat(1, 1, 1, 3)}, ValueError, "permute"),
        ({"images": lambda x: x.repeat(1, 4, 1, 1)}, ValueError, "4 channels.*1 .gray. or 3"),
        ({"images": lambda x: x[..., :6]}, ValueError, "8x6.*square"),
        ({"images": lambda x: x.float() / 255 * 2 - 1}, ValueError, r"\[0, 1\].*normalise"),
        ({"images": lambda x: x.int()}, TypeError, "uint8"),
        ({"images": lambda x: x.numpy()}, TypeError, "torch.Tensor"),
        ({"labels": lambda y: y.float()}, TypeError, "integer"),
        ({"labels": lambda y: y[:-1]}, ValueError, "one per image"),
        ({"labels": lambda y: y - 1}, ValueError, "0..K-1"),
        ({"labels": lambda y: y.masked_fill(y == 1, 2)}, ValueError, r"\[1\] have no training"),
        ({"class_names": lambda _: ["a", "b"]}, ValueError, "0..K-1 with 2 classes"),
        ({"test": lambda t: (t[0][..., :4, :4], t[1])}, ValueError, "one shape"),
        ({"test": lambda t: (t[0], t[1] + 1)}, ValueError, "test labels"),
        ({"test": lambda t: t[0]}, TypeError, "pair"),
        ({"mean": lambda _: [0.5, 0.5, 0.5]}, ValueError, "3 values.*1 channels"),
        ({"std": lambda _: [0.0]}, ValueError, "positive"),
        ({"name": lambda _: ""}, ValueError, "non-empty"),
    ],
)
def test_bad_input_is_a_clear_error(tensors, change, error, match) -> None:
    x, y, tx, ty = tensors
    kwargs = {"images": x, "labels": y, "test": (tx, ty), "mean": None, "std": None}
    kwargs.update(class_names=None, name="tensors")
    (key, edit), *_ = change.items()
    kwargs[key] = edit(kwargs[key])
    with pytest.raises(error, match=match):
        RealDataModule.from_tensors(
            kwargs.pop("images"), kwargs.pop("labels"), test=kwargs.pop("test"), **kwargs
        )
