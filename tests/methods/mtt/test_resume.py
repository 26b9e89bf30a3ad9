"""Stopping and adding experts: reruns train only what is missing, and equal a one-go run."""

from __future__ import annotations

import pytest
import torch

from dcl.methods.mtt import ExpertBuffer, ExpertTraining, train_experts
from dcl.methods.mtt.buffer import partial_name, shard_name
from tests.methods.mtt.conftest import SETTINGS, tiny_data


def run(path, n) -> ExpertBuffer:
    return train_experts(tiny_data(), path, n, SETTINGS, accelerator="cpu", progress=False)


@pytest.fixture(scope="module")
def one_go(tmp_path_factory) -> ExpertBuffer:
    return run(tmp_path_factory.mktemp("one_go"), 3)


def trained_experts(monkeypatch) -> list[int]:
    """Records which experts ``fit_tensors`` trains from here on."""
    seen: list[int] = []
    fit = ExpertTraining.fit_tensors

    def spy(self, *args, **kwargs):
        seen.append(self.hparams.expert)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(ExpertTraining, "fit_tensors", spy)
    return seen


def test_adding_experts_trains_only_the_missing_ones(one_go, tmp_path, monkeypatch):
    assert run(tmp_path, 1).experts == [0]
    seen = trained_experts(monkeypatch)
    buffer = run(tmp_path, 3)
    assert seen == [1, 2] and buffer.experts == [0, 1, 2]
    assert run(tmp_path, 2).num_experts == 3 and seen == [1, 2]  # nothing left to do
    for i in range(3):
        assert torch.equal(buffer.load(i), one_go.load(i))


def test_a_lost_expert_is_retrained_identically(one_go, tmp_path, monkeypatch):
    run(tmp_path, 3)
    (tmp_path / shard_name(1)).unlink()
    seen = trained_experts(monkeypatch)
    buffer = run(tmp_path, 3)
    assert seen == [1] and torch.equal(buffer.load(1), one_go.load(1))


def test_an_interrupted_expert_resumes_at_its_last_epoch(one_go, tmp_path, monkeypatch):
    save = ExpertBuffer.save_partial

    def stop_after_first_epoch(self, expert, state):
        save(self, expert, state)
        if expert == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(ExpertBuffer, "save_partial", stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 3)
    monkeypatch.undo()
    assert ExpertBuffer(tmp_path).experts == [0] and (tmp_path / partial_name(1)).is_file()
    resumed: list[int] = []
    fit = ExpertTraining.fit_tensors

    def spy(self, images, labels, resume=None, after_epoch=None):
        resumed.append(None if resume is None else resume["epoch"])
        return fit(self, images, labels, resume, after_epoch)

    monkeypatch.setattr(ExpertTraining, "fit_tensors", spy)
    buffer = run(tmp_path, 3)
    assert resumed == [1, None]  # expert 1 from its saved epoch, expert 2 from the start
    assert not (tmp_path / partial_name(1)).exists()
    for i in range(3):
        assert torch.equal(buffer.load(i), one_go.load(i))


def test_partial_files_can_be_switched_off(one_go, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no partial file was asked for")

    monkeypatch.setattr(ExpertBuffer, "save_partial", refuse)
    common = {"accelerator": "cpu", "progress": False}
    buffer = train_experts(tiny_data(), tmp_path, 3, SETTINGS, partial_every=0, **common)
    assert all(torch.equal(buffer.load(i), one_go.load(i)) for i in range(3))
    with pytest.raises(ValueError, match="partial_every must be >= 0"):
        train_experts(tiny_data(), tmp_path, 3, SETTINGS, partial_every=-1, **common)
