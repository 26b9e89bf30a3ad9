"""What a synthesis run hands out records the data module's ZCA fit and a learned lr."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from dcl.data import RealDataModule
from dcl.synthesis.module import SynthesisModule


@pytest.fixture(scope="module")
def whitened_data(digits_cache) -> RealDataModule:
    data = RealDataModule("digits", cache_dir=str(digits_cache), zca=True)
    data.setup()
    return data


def test_a_set_records_the_fit_and_the_learned_lr(whitened_data):
    model = SynthesisModule(whitened_data.info, method="dm", ipc=1)
    model._trainer = SimpleNamespace(datamodule=whitened_data, global_step=0)
    model.matching.learned_lr = lambda: torch.tensor(0.03)  # a method that learns one (MTT)
    syn = model.synthetic_set()
    fit = whitened_data.whitening
    assert syn.zca == fit.metadata() and syn.lr == pytest.approx(0.03)
    assert syn.whitening is not None and torch.equal(syn.whitening.matrix, fit.matrix)


def test_without_trainer_or_learned_lr_a_set_records_neither(whitened_data):
    model = SynthesisModule(whitened_data.info, method="dm", ipc=1)
    syn = model.synthetic_set()
    assert syn.zca is None and syn.lr is None and syn.whitening is None
    model._trainer = SimpleNamespace(datamodule=None, global_step=0)
    assert model.synthetic_set().zca is None
