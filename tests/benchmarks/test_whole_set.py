"""The whole-set ceiling: networks of the one training loop, tested on the real test split."""

from __future__ import annotations

import json

import pytest

from benchmarks.whole_set import main
from dcl.baselines import train_feature_extractor
from dcl.evaluation.teacher import accuracy_of


def test_each_seed_is_the_loops_network_tested(tmp_path, digits, digits_cache):
    out = tmp_path / "digits.json"
    args = ["digits", "--cache-dir", str(digits_cache), "--epochs", "2", "--seeds", "2"]
    doc = main([*args, "--device", "cpu", "--output", str(out)])
    train, test = digits
    again = [accuracy_of(train_feature_extractor(train, epochs=2, seed=s)[0], test) for s in (0, 1)]
    assert doc["accuracies"] == pytest.approx(again)
    assert doc["summary"]["mean"] == pytest.approx(sum(again) / 2)
    assert doc["epochs"] == 2 and doc["published"] is None
    assert json.loads(out.read_text())["accuracies"] == doc["accuracies"]
