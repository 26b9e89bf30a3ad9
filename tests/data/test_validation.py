"""The validation split: class-balanced, seeded, reproducible, and absent from ``train``."""

from __future__ import annotations

import pytest
import torch

from dcl.data import RealDataModule
from dcl.data.validation import carve, per_class, without_recorded
from tests.data.indexed import PER_CLASS, K, indexed_module, indices, uint8_indices


def test_the_split_is_class_balanced_disjoint_and_complete() -> None:
    data = indexed_module(val_size=5, seed=3)
    assert data.val.counts.tolist() == [5] * K
    assert data.train.counts.tolist() == [PER_CLASS - 5] * K
    train, val = uint8_indices(data.train.images), uint8_indices(data.val.images)
    assert not train & val and train | val == set(range(K * PER_CLASS))
    assert data.validation["per_class"] == 5 and data.validation["seed"] == 3
    assert data.validation["images"] == 5 * K


def test_the_split_is_seeded_and_reproducible() -> None:
    def val(**kwargs) -> set[int]:
        return uint8_indices(indexed_module(val_size=4, **kwargs).val.images)

    assert val(seed=1) == val(seed=1)
    assert val(seed=1) != val(seed=2)
    assert val(seed=1, val_seed=7) == val(seed=2, val_seed=7)  # its own seed wins
    assert (
        indexed_module(val_size=4, seed=1).validation
        == indexed_module(val_size=4, seed=1).validation
    )  # same checksum of the indices


def test_a_fraction_takes_the_same_count_from_every_class() -> None:
    data = indexed_module(val_size=0.25)
    assert data.val.counts.tolist() == [round(0.25 * PER_CLASS)] * K


def test_off_by_default_changes_nothing() -> None:
    data = indexed_module()
    assert data.val is None and data.validation is None and len(data.train) == K * PER_CLASS
    with pytest.raises(ValueError, match="No validation split"):
        data.val_dataloader()


def test_real_batches_never_draw_validation_images() -> None:
    data = indexed_module(val_size=6)
    held_out = uint8_indices(data.val.images)
    seen = set()
    for step in range(40):
        seen |= indices(data.real_batch(PER_CLASS - 6, step=step), data.info)
    assert seen == set(range(K * PER_CLASS)) - held_out


def test_the_val_dataloader_serves_exactly_the_validation_images() -> None:
    data = indexed_module(val_size=3)
    images, labels = zip(*data.val_dataloader(), strict=True)
    assert uint8_indices(torch.cat(images)) == uint8_indices(data.val.images)
    assert torch.cat(labels).bincount().tolist() == [3] * K


@pytest.mark.parametrize(
    ("val_size", "message"),
    [
        (-1, ">= 0 images per class"),
        (1.5, r"must lie in \[0, 1\)"),
        (1.0, r"must lie in \[0, 1\)"),
        (True, "an int or a float"),
        ("10", "an int or a float"),
    ],
)
def test_bad_sizes_fail_at_construction(val_size, message) -> None:
    with pytest.raises(ValueError, match=message):
        RealDataModule("digits", val_size=val_size)


def test_a_split_leaving_a_class_empty_is_refused() -> None:
    with pytest.raises(ValueError, match="leave at least one for training"):
        per_class(PER_CLASS, torch.full((K,), PER_CLASS))
    data = indexed_module()
    with pytest.raises(ValueError, match="smallest class has 24"):
        carve(data.train, 30, 0)


def test_a_recorded_split_is_carved_again_and_checked() -> None:
    data = indexed_module(val_size=4, seed=2)
    full = indexed_module()
    rest = without_recorded(full.train, data.validation)
    assert uint8_indices(rest.images) == uint8_indices(data.train.images)
    with pytest.raises(ValueError, match="does not give"):
        without_recorded(full.train, {**data.validation, "checksum": 1})
