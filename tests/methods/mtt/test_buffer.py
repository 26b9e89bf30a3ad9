"""The on-disk buffer: what training recorded comes back, with its names, shapes and checks."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from dcl.data import DatasetInfo
from dcl.methods.mtt import ExpertBuffer, expert_seed, train_experts, training_tensors
from dcl.methods.mtt.buffer import shard_name
from dcl.methods.mtt.manifest import MANIFEST
from dcl.networks import build_network
from tests.methods.mtt.conftest import SETTINGS


@pytest.fixture
def buffer(data, tmp_path) -> ExpertBuffer:
    return train_experts(data, tmp_path / "buf", 2, SETTINGS, accelerator="cpu", progress=False)


def test_the_buffer_returns_what_training_recorded(buffer, data):
    assert buffer.num_experts == 2 and buffer.experts == [0, 1] and buffer.epochs == 2
    images, labels = training_tensors(data, torch.device("cpu"))
    for expert in (0, 1):
        module = SETTINGS.module(data, expert)
        initial = {n: p.detach().clone() for n, p in module.net.named_parameters()}
        recorded = module.fit_tensors(images, labels)
        loaded = buffer.load(expert)
        assert loaded.dtype == torch.float32 and torch.equal(loaded, recorded)
        assert buffer.seed(expert) == expert_seed(SETTINGS.seed, expert)
        # unflatten gives the module's parameters by name: the last row the trained ones ...
        last = buffer.unflatten(loaded[-1])
        assert list(last) == [n for n, _ in module.net.named_parameters()]
        for name, p in module.net.named_parameters():
            assert torch.equal(last[name], p.detach())
        # ... and row 0 the initialisation.
        first = buffer.unflatten(loaded[0])
        assert all(torch.equal(first[n], initial[n]) for n in initial)
    assert buffer.parameter_shapes == {
        n: tuple(p.shape) for n, p in SETTINGS.module(data, 0).net.named_parameters()
    }


def test_the_manifest_records_the_settings(buffer, data):
    manifest = json.loads((buffer.path / MANIFEST).read_text())
    assert manifest["format"] == "dcl-expert-buffer" and manifest["version"] == 1
    assert manifest["dataset"] == "tiny" and manifest["image_shape"] == [1, 8, 8]
    assert manifest["num_classes"] == 3 and manifest["network"] == "ConvNetW32"
    assert manifest["zca"] is False and manifest["zca_eps"] is None
    assert manifest["epochs"] == 2 and manifest["num_parameters"] == buffer.load(0).shape[1]
    training = manifest["training"]
    assert training == {
        "lr": 0.01,
        "momentum": 0.0,
        "weight_decay": 0.0,
        "batch_size": 16,
        "augment": "dsa",
        "dsa_strategy": "color_crop_cutout_flip_scale_rotate",
        "decay": False,
        "seed": 3,
    }
    assert [p["name"] for p in manifest["parameters"]] == list(buffer.parameter_shapes)


def test_validate_names_what_differs_and_how_to_fix_it(buffer, data):
    info = data.info
    buffer.validate("ConvNetW32", info, zca=False)
    buffer.validate(SETTINGS.module(data, 5).net, info)  # a network of the same parameters
    other = DatasetInfo("mnist", 1, 28, 10, mean=(0.1307,), std=(0.3081,))
    with pytest.raises(ValueError, match=r"dataset 'tiny' vs 'mnist'.*--dataset mnist"):
        buffer.validate("ConvNetW32", other)
    with pytest.raises(ValueError, match=r"network 'ConvNetW32' vs 'ConvNet'"):
        buffer.validate("ConvNet", info)
    with pytest.raises(ValueError, match=r"ZCA off vs on.*--zca true"):
        buffer.validate("ConvNetW32", info, zca=True)
    wider = build_network("ConvNetW64", 1, 3, 8, generator=torch.Generator())
    with pytest.raises(ValueError, match="network parameters"):
        buffer.validate(wider, info)


def test_a_buffer_of_other_settings_is_not_appended_to(buffer, data):
    for changed, shown in [
        (replace(SETTINGS, lr=0.02), "training.lr: 0.01 -> 0.02"),
        (replace(SETTINGS, epochs=3), "epochs: 2 -> 3"),
        (replace(SETTINGS, seed=4), "training.seed: 3 -> 4"),
        (replace(SETTINGS, network="ConvNetW64"), "network: 'ConvNetW32' -> 'ConvNetW64'"),
    ]:
        with pytest.raises(ValueError, match="made with other settings") as err:
            train_experts(data, buffer.path, 3, changed, accelerator="cpu", progress=False)
        assert shown in str(err.value) and "new --out" in str(err.value)
    assert buffer.num_experts == 2  # nothing was trained


def test_missing_and_foreign_files_are_clear_errors(buffer, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Expert 7 is not in the buffer.*holds 2"):
        buffer.load(7)
    with pytest.raises(FileNotFoundError, match="No expert buffer at.*train_experts.py"):
        ExpertBuffer(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="expected a flat vector of"):
        buffer.unflatten(torch.zeros(5))
    torch.save({"trajectory": torch.zeros(2, 2)}, buffer.path / shard_name(1))
    with pytest.raises(ValueError, match="delete it and rerun"):
        buffer.load(1)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / MANIFEST).write_text(json.dumps({"format": "dcl-expert-buffer"}))
    with pytest.raises(ValueError, match="buffer version None"):
        ExpertBuffer(tmp_path / "old")
