"""Final, validation-selected and test-max side by side, each named by what chose it."""

from __future__ import annotations

import torch

from benchmarks.reproduce_selection import pooled_selection, selection_line, set_selection
from dcl.data import SyntheticSet
from dcl.data.registry import STATIC_INFO

VAL = {100: 50.0, 200: 70.0, 300: 60.0}
TEST = {100: 55.0, 200: 65.0, 300: 62.0}


def _set(step: int) -> SyntheticSet:
    info = STATIC_INFO["mnist"]
    images = torch.zeros(info.num_classes, info.channels, info.image_size, info.image_size)
    return SyntheticSet(images, torch.arange(info.num_classes), info, 1, "dm", step=step)


def _columns(with_val: bool, final_val: bool = True) -> tuple[dict, list]:
    calls: list = []
    test, val = object(), object()

    def evaluate(syn, splits):
        calls.append((tuple(sorted(splits)), syn.step))
        assert all(splits[name] is {"test": test, "val": val}[name] for name in splits)
        tables = {"val": VAL, "test": TEST}
        step = syn.step
        return {n: {"ConvNet": [tables[n][step] - 1, tables[n][step] + 1]} for n in splits}

    final = _set(300)
    finals = {"test": {"ConvNet": [61.0, 63.0]}}
    if with_val and final_val:
        finals["val"] = {"ConvNet": [59.0, 61.0]}
    snaps = [_set(100), _set(200), _set(300)]  # the last snapshot is the final set
    out = set_selection(snaps, final, finals, "ConvNet", evaluate, test, val if with_val else None)
    return out, calls


def test_three_columns_choose_last_val_and_test_max() -> None:
    out, calls = _columns(with_val=True)
    # One training per kept set, tested on both splits; the final set's accuracies on both are
    # given (measured with its test accuracy), not measured again.
    assert calls == [(("test", "val"), 100), (("test", "val"), 200)]
    assert out["final"]["step"] == 300 and out["final"]["mean"] == 62.0
    assert out["val_selected"]["step"] == 200 and out["val_selected"]["selected_on"] == "val"
    assert out["test_max"] == {
        "step": 200, "selected_on": "test", "accuracies": [64.0, 66.0], "mean": 65.0
    }  # fmt: skip
    assert [c["step"] for c in out["candidates"]] == [100, 200, 300]


def test_without_validation_the_val_column_is_absent_and_pooling_names_it() -> None:
    out, calls = _columns(with_val=False)
    assert calls == [(("test",), 100), (("test",), 200)] and out["val_selected"] is None
    pooled = pooled_selection([out, out], every_n_steps=100)
    assert pooled["val_selected"] is None
    assert pooled["test_max"]["selected_on"] == "test" and pooled["test_max"]["mean"] == 65.0
    assert pooled["final"]["selected_on"] == "last" and pooled["final"]["steps"] == [300, 300]
    line = selection_line(pooled)
    assert "val-selected (val) n/a" in line and "test-max (test) 65.00" in line


def test_a_final_set_without_validation_accuracy_is_trained_once_more_for_it() -> None:
    out, calls = _columns(with_val=True, final_val=False)
    assert calls[-1] == (("val",), 300)  # only the missing split, not the test set again
    assert out["final"]["mean"] == 62.0 and out["val_selected"]["step"] == 200
