"""Smoke test of benchmarks/successors.py: DM, DataDAM and MTT at one tiny budget on digits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import successors  # noqa: E402


def test_every_method_runs_at_the_same_budget_and_mtt_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["--ipc", "1", "--steps", "2", "--experts", "1", "--expert-epochs", "2"]
    argv += ["--max-start-epoch", "1", "--syn-steps", "2", "--num-models", "1", "--epochs", "1"]
    argv += ["--threads", "1", "--tag", "t", "--run-dir", str(tmp_path / "runs")]
    argv += ["--results-dir", str(tmp_path / "results")]
    doc = successors.main(argv)
    assert json.loads((tmp_path / "results/successors/digits_t.json").read_text()) == doc
    assert [r["method"] for r in doc["runs"]] == ["dm", "datadam", "mtt"]
    assert {r["steps"] for r in doc["runs"]} == {2}  # one budget for every method
    mtt = doc["runs"][2]
    assert mtt["learned_lr"] != 0.01  # syn_lr moved, and the set carried it to evaluation
    assert len(mtt["accuracy"]["accuracies"]) == len(mtt["accuracy_lr_0.01"]["accuracies"]) == 1
    assert "random_real" in doc["runs"][0] and doc["experts"]["found"] == 0
    assert "accuracy_dm_protocol" in doc["runs"][1]  # DataDAM also trained as DM sets are
    accuracy = doc["expert_accuracy"]
    assert len(accuracy["per_expert"]) == 1 and len(accuracy["mean_by_epoch"]) == 3  # epochs 0..2
    assert all(0 <= a <= 100 for a in accuracy["mean_by_epoch"])


def test_mtt_once_per_memory_path_and_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["--ipc", "1", "--steps", "2", "--experts", "1", "--expert-epochs", "2"]
    argv += ["--max-start-epoch", "1", "--syn-steps", "2", "--num-models", "1", "--epochs", "1"]
    argv += ["--threads", "1", "--tag", "t", "--run-dir", str(tmp_path / "runs")]
    argv += ["--results-dir", str(tmp_path / "results"), "--methods", "mtt"]
    argv += ["--seeds", "0", "1", "--mtt-memory", "unrolled", "constant"]
    runs = successors.main(argv)["runs"]
    assert [(r["seed"], r["memory"]) for r in runs] == [
        (0, "unrolled"), (0, "constant"), (1, "unrolled"), (1, "constant")
    ]  # fmt: skip
    # Two student steps: TESLA's gradient drops the Hessian chain, so the learned rates part.
    assert runs[0]["learned_lr"] != runs[1]["learned_lr"]
    assert runs[0]["learned_lr"] != runs[2]["learned_lr"]  # another seed, another start
