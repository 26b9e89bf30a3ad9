"""``select``: the last set, the best on validation (test read once), or test-max named so."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import dcl.evaluation.callback as callback_module
from dcl.data import RealDataModule, SyntheticSet
from dcl.evaluation import SynthesisEvaluation
from dcl.evaluation.selection import Selection, mean_accuracy
from dcl.synthesis.module import SynthesisModule

# Accuracy of the set of each step: validation peaks at step 2, test at step 3.
VAL = {1: 50.0, 2: 70.0, 3: 60.0, 4: 55.0}
TEST = {1: 40.0, 2: 65.0, 3: 80.0, 4: 60.0}


def _set(step: int) -> SyntheticSet:
    from dcl.data.registry import STATIC_INFO

    info = STATIC_INFO["mnist"]
    images = torch.zeros(info.num_classes, info.channels, info.image_size, info.image_size)
    return SyntheticSet(images, torch.arange(info.num_classes), info, 1, "dm", step=step)


def test_val_picks_the_best_validation_set_and_ties_go_to_the_later() -> None:
    chosen = Selection("val")
    for step, acc in [(1, 50.0), (2, 70.0), (3, 70.0), (4, 60.0)]:
        chosen.add(step, _set(step), val={"ConvNet": [acc]})
    assert chosen.chosen().step == 3 and chosen.chosen().syn.step == 3
    assert [c.syn for c in chosen.candidates if c.step != 3] == [None] * 3  # one set kept
    assert chosen.record()["selected_on"] == "val"


def test_test_max_and_last_are_named_in_the_record() -> None:
    best = Selection("test-max")
    for step in TEST:
        best.add(step, _set(step), test={"ConvNet": [TEST[step]]})
    assert best.chosen().step == 3
    assert best.record() | {"candidates": None} == {
        "select": "test-max", "selected_on": "test", "step": 3, "candidates": None,
    }  # fmt: skip
    last = Selection("last")
    for step in TEST:
        last.add(step, _set(step), test={"ConvNet": [TEST[step]]})
    assert last.chosen().step == 4 and last.record()["selected_on"] == "last"


def test_mean_accuracy_averages_architectures_means() -> None:
    assert mean_accuracy({"A": [10.0, 20.0], "B": [40.0]}) == 27.5
    assert math.isnan(mean_accuracy({}))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"select": "best"}, "select 'best' is not one of last, val, test-max"),
        ({"select": "val"}, "set every_n_steps > 0"),
        ({"select": "test-max", "every_n_steps": 0}, "set every_n_steps > 0"),
    ],
)
def test_bad_select_fails_at_construction(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SynthesisEvaluation(**kwargs)


def _run(
    tmp_path, monkeypatch, select: str, val_size: int, steps: int = 4, ckpt: str | None = None
) -> tuple[list, SynthesisModule]:
    """DM steps on digits, evaluated every step by a fake protocol; returns its calls.

    A checkpoint is saved every 2 steps (``last.ckpt``); ``ckpt`` resumes from one.
    """
    calls: list = []

    def protocol(syn, split, models, **kwargs):
        which = "val" if split is data.val else "test"
        calls.append((which, syn.step))
        return {"ConvNet": [(VAL if which == "val" else TEST)[syn.step]]}

    monkeypatch.setattr(callback_module, "run_protocol", protocol)
    monkeypatch.setattr(callback_module, "choose_paths", lambda *a, **k: {})
    L.seed_everything(0, verbose=False)
    data = RealDataModule("digits", val_size=val_size)
    monkeypatch.setattr(data, "test_dataloader", lambda: pytest.fail("test loader read"))
    model = SynthesisModule(data.info, ipc=1, batch_real=4, image_log_every_n_steps=0)
    evaluation = SynthesisEvaluation(every_n_steps=1, baseline=None, select=select)
    saving = ModelCheckpoint(tmp_path / "ckpt", every_n_train_steps=2, save_last=True)
    trainer = L.Trainer(
        max_steps=steps, accelerator="cpu", logger=False, callbacks=[evaluation, saving],
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, data, ckpt_path=ckpt)
    return calls, model


def test_select_val_tests_only_the_chosen_set_once(tmp_path, monkeypatch, capsys) -> None:
    calls, model = _run(tmp_path, monkeypatch, "val", val_size=5)
    assert [c for c in calls if c[0] == "test"] == [("test", 2)]  # once, for step 2's set
    # The final set (step 4) was just evaluated periodically: not trained on again.
    assert [step for which, step in calls if which == "val"] == [1, 2, 3, 4]
    doc = json.loads((model.output_dir / "evaluation.json").read_text())
    assert doc["selected_on"] == "val" and doc["selection"]["step"] == 2
    assert doc["results"]["ConvNet"]["mean"] == TEST[2]
    assert doc["settings"]["validation"]["per_class"] == 5
    assert [c["test"] for c in doc["selection"]["candidates"]] == [None] * 4
    assert SyntheticSet.load(model.output_dir / "selected.pt").step == 2
    assert "dm (val) acc %" in capsys.readouterr().out


def test_a_resumed_run_chooses_among_the_sets_before_its_interruption(
    tmp_path, monkeypatch
) -> None:
    _run(tmp_path, monkeypatch, "val", val_size=5, steps=2)
    calls, model = _run(
        tmp_path, monkeypatch, "val", val_size=5, ckpt=str(tmp_path / "ckpt" / "last.ckpt")
    )
    assert calls == [("val", 3), ("val", 4), ("test", 2)]  # step 2's set came back
    doc = json.loads((model.output_dir / "evaluation.json").read_text())
    assert [c["step"] for c in doc["selection"]["candidates"]] == [1, 2, 3, 4]
    assert doc["selection"]["step"] == 2 and doc["results"]["ConvNet"]["mean"] == TEST[2]


def test_test_max_reports_the_best_test_accuracy_named_so(tmp_path, monkeypatch, capsys) -> None:
    calls, model = _run(tmp_path, monkeypatch, "test-max", val_size=0)
    assert calls == [("test", step) for step in (1, 2, 3, 4)]  # the final set: once
    doc = json.loads((model.output_dir / "evaluation.json").read_text())
    assert doc["selected_on"] == "test" and doc["selection"]["select"] == "test-max"
    assert doc["results"]["ConvNet"]["mean"] == TEST[3]
    out = capsys.readouterr().out
    assert "dm (test-max) acc %" in out
    assert out.count("Synthetic set:") == 1  # the report names the files; the module not again


def test_last_with_a_validation_split_monitors_on_validation(tmp_path, monkeypatch) -> None:
    calls, model = _run(tmp_path, monkeypatch, "last", val_size=5)
    assert calls == [("val", 1), ("val", 2), ("val", 3), ("val", 4), ("test", 4)]
    doc = json.loads((model.output_dir / "evaluation.json").read_text())
    assert doc["selected_on"] == "last" and doc["results"]["ConvNet"]["mean"] == TEST[4]
    assert not (model.output_dir / "selected.pt").exists()


def test_select_val_without_a_validation_split_fails_before_synthesis(
    tmp_path, monkeypatch
) -> None:
    with pytest.raises(ValueError, match="select 'val' needs a validation split"):
        _run(tmp_path, monkeypatch, "val", val_size=0)
