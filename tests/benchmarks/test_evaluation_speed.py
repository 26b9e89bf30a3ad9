"""benchmarks/evaluation_speed.py end to end, tiny: its fields, equal work, the same networks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import evaluation_speed  # noqa: E402


def test_both_sides_train_the_same_networks_as_often(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "evaluation_speed" / "digits.json"
    argv = ["--dataset-shape", "digits", "--ipc", "1", "--model", "ConvNet", "--augment", "dsa",
            "--epochs", "2", "--num-models", "1", "--rounds", "1", "--device", "cpu",
            "--threads", "1", "--no-isolate", "--output", str(out)]  # fmt: skip
    doc = evaluation_speed.main(argv)
    assert json.loads(out.read_text()) == doc
    assert doc["kind"] == "evaluation_speed" and not doc["isolated"]
    env = doc["environment"]
    assert {"device", "device_name", "cpu_features", "torch", "commit", "date"} <= env.keys()
    result = doc["result"]
    assert result["recipe"]["augment"] == "dsa" and result["recipe"]["epochs"] == 2
    ours, ref = result["ours"], result["reference"]
    # One network, epochs 0..2, one batch of the 10 images each: 30 images through the loss.
    assert ours["trained_images"] == ref["trained_images"] == 1 * 3 * 10
    assert ours["seconds"] > 0 and ref["seconds"] > 0
    assert ours["seconds"] == pytest.approx(ours["probe_seconds"] + ours["train_seconds"])
    assert result["ratio"] == pytest.approx(ref["seconds"] / ours["seconds"])
    assert result["ratio_without_probe"] == pytest.approx(ref["seconds"] / ours["train_seconds"])
    assert result["round_ratios"] == [result["ratio"]]
    # Too short to probe: ours took the plain path, the release's loop's very computation (same
    # weights, draws and schedule), so the test predictions can differ only at float ties.
    assert ours["path"]["how"].startswith("defaults: a run of 3 steps is too short")
    assert not ours["path"]["ensemble"]
    (a,), (b,) = ours["accuracies"], ref["accuracies"]
    assert abs(a - b) <= 100 * 2 / 540  # at most two of the 540 test images
    # results/README.md gets a row of it.
    from benchmarks import summary

    section = summary.render(tmp_path).split("## Evaluation speed", 1)[1]
    (row,) = [line for line in section.splitlines() if line.startswith("| ConvNet digits 1 ipc")]
    assert f"{result['ratio']:.2f}×" in row and "1 × 2" in row and "compile=False" in row


def test_bad_counts_are_rejected_with_the_reason(capsys) -> None:
    with pytest.raises(SystemExit, match="--rounds, --num-models and --ipc must be 1 or more"):
        evaluation_speed.main(["--rounds", "0", "--output", "unused.json"])
