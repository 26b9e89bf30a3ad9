"""Smoke test of benchmarks/precision.py: two tiny synthesis runs per precision."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import precision, summary  # noqa: E402


def test_precision_records_each_seed_and_the_difference(tmp_path: Path, digits_cache: Path):
    config = {
        "trainer": {
            "accelerator": "cpu",
            "max_steps": 2,
            "logger": False,
            "callbacks": [
                {
                    "class_path": "dcl.evaluation.SynthesisEvaluation",
                    "init_args": {
                        "num_models": 1,
                        "epochs": 2,
                        "baseline": "random",
                        "autotune": False,
                    },
                }
            ],
        },
        "model": {
            "method": "dm",
            "ipc": 1,
            "batch_real": 8,
            "image_log_every_n_steps": 0,
            "autotune": False,
        },
        "data": {"dataset": "digits", "cache_dir": str(digits_cache)},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "results" / "precision" / "tiny.json"
    argv = ["--config", str(path), "--precisions", "32-true", "bf16-mixed", "--seeds", "0", "1"]
    doc = precision.main([*argv, "--threads", "1", "--output", str(out)])
    assert json.loads(out.read_text()) == doc
    full, low = doc["results"]
    assert (full["precision"], low["precision"]) == ("32-true", "bf16-mixed")
    for row in doc["results"]:
        assert [r["seed"] for r in row["runs"]] == [0, 1]
        assert all(0 <= r["mean"] <= 100 and r["baseline_mean"] is not None for r in row["runs"])
        assert all(r["settings"]["step"] == 2 for r in row["runs"])
        assert row["mean"] == pytest.approx(sum(r["mean"] for r in row["runs"]) / 2)
    assert full["difference"] == 0
    assert low["difference"] == pytest.approx(low["mean"] - full["mean"])
    # results/README.md shows one row per precision, from this document.
    text = summary.render(tmp_path / "results").split("## Mixed precision", 1)[1]
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| DM digits")]
    assert [r[1].strip() for r in rows] == ["32-true", "bf16-mixed"]
    assert rows[1][3].strip() == f"{low['mean']:.1f} ± {low['sem']:.1f}"
    assert doc["command"] in text


def test_a_failing_run_names_its_precision_and_shows_why(tmp_path: Path):
    argv = ["--config", "configs/quickstart.yaml", "--precisions", "no-such-precision"]
    with pytest.raises(RuntimeError, match="precision 'no-such-precision', seed 0") as err:
        precision.main([*argv, "--seeds", "0", "--output", str(tmp_path / "out.json")])
    assert "no-such-precision" in str(err.value).split("It said:", 1)[1]
    assert not (tmp_path / "out.json").exists()
