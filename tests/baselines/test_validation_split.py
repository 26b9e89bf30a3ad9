"""Every coreset baseline chooses from the training split without the validation images."""

from __future__ import annotations

import pytest

from dcl.baselines import BASELINES, select_baseline
from tests.data.indexed import K, indexed_module, indices, uint8_indices


@pytest.mark.parametrize("method", BASELINES)
def test_a_baseline_never_contains_validation_images(method: str) -> None:
    data = indexed_module(val_size=8, seed=1)
    held_out = uint8_indices(data.val.images)
    chosen = select_baseline(method, data.train, ipc=8, seed=0, extractor_epochs=1)
    picked = indices(chosen.images, data.info)
    assert len(picked) == 8 * K and not picked & held_out
