"""benchmarks/reproduce.py pools S synthesis seeds x M models, as the papers report."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import reproduce  # noqa: E402

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def test_pooled_reports_all_sets_times_models_and_the_spread_between_sets():
    per_set = [{"ConvNet": [10.0, 20.0]}, {"ConvNet": [30.0, 50.0]}]
    (row,) = reproduce.pooled(per_set).values()
    assert row["accuracies"] == [10.0, 20.0, 30.0, 50.0]
    assert row["mean"] == pytest.approx(27.5)
    assert row["std"] == pytest.approx(statistics.pstdev([10, 20, 30, 50]))
    assert row["set_means"] == [15.0, 40.0]
    assert row["between_sets_std"] == pytest.approx(12.5)


@pytest.mark.slow
def test_two_synthesis_seeds_give_two_sets_and_pooled_accuracies(tmp_path, digits_cache):
    argv = ["dm", "digits", "1", "--config", str(QUICKSTART), "--steps", "2"]
    argv += ["--num-models", "2", "--epochs", "1", "--synthesis-seeds", "2", "--seed", "4"]
    argv += ["--cache-dir", str(digits_cache), "--device", "cpu", "--baseline", "none"]
    argv += ["--results-dir", str(tmp_path / "results"), "--run-dir", str(tmp_path / "runs")]
    doc = reproduce.main(argv)
    assert [s["seed"] for s in doc["sets"]] == [4, 5]
    assert doc["num_sets"] == 2 and len(doc["accuracies"]) == 4
    means = doc["results"]["ConvNet"]["set_means"]
    assert means == [
        statistics.fmean(doc["accuracies"][:2]),
        statistics.fmean(doc["accuracies"][2:]),
    ]
    assert doc["between_sets_std"] == pytest.approx(statistics.pstdev(means))
    assert doc["recipes"]["ConvNet"] == {
        "augment": "dsa",
        "epochs": 1,
        "dsa_strategy": "color_crop_cutout_scale_rotate",
    }
    assert (tmp_path / "results" / "dm_digits_ipc1.json").exists()
