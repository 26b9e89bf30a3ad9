"""MTT's experts learn the training split without the validation images, and say so."""

from __future__ import annotations

import torch

from dcl.methods.mtt.manifest import run_differences
from dcl.methods.mtt.train import ExpertSettings, buffer_manifest, training_tensors
from tests.data.indexed import indexed_module, indices, uint8_indices


def test_experts_train_on_the_split_without_validation_images() -> None:
    data = indexed_module(val_size=5, seed=4)
    images, labels = training_tensors(data, torch.device("cpu"))
    assert len(images) == len(data.train)
    assert indices(images, data.info) == uint8_indices(data.train.images)
    assert not indices(images, data.info) & uint8_indices(data.val.images)


def test_a_buffer_must_hold_out_the_runs_validation_split() -> None:
    data = indexed_module(val_size=5, seed=4)
    settings = ExpertSettings(epochs=1, augment="none")
    manifest = buffer_manifest(data, settings)
    assert manifest["validation"] == {"val_size": 5, "seed": 4}
    spec = data.validation_spec()
    assert run_differences(manifest, "ConvNet", data.info, False, spec) == []
    older = {**manifest}
    del older["validation"]  # a buffer from before validation splits: trained on everything
    assert run_differences(older, "ConvNet", data.info, False, None) == []
    differ = run_differences(older, "ConvNet", data.info, False, spec)
    assert differ and "validation split held out None" in differ[0]
    other = indexed_module(val_size=5, seed=5).validation_spec()
    assert run_differences(manifest, "ConvNet", data.info, False, other)
