"""Smoke test of benchmarks/throughput.py at a tiny shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import throughput  # noqa: E402
from dcl.calls import cpu_compiler  # noqa: E402


def test_throughput_writes_timings_memory_and_ratio(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    argv = [
        "--method", "dm", "dc", "--dataset-shape", "digits", "--ipc", "1", "--batch-real", "4",
        "--steps", "2", "--warmup", "1", "--eval-models", "1", "--eval-epochs", "2",
        "--device", "cpu", "--threads", "1", "--no-isolate", "--output", str(out),
        "--channels-last", "--rounds", "2", "--planned-steps", "150",
    ] + (["--compile"] if cpu_compiler() else [])  # fmt: skip
    variants = ["default", "eager", "channels_last"]
    if cpu_compiler():
        variants = ["default", "eager", "compiled", "channels_last", "compiled+channels_last"]
    doc = throughput.main(argv)
    assert json.loads(out.read_text()) == doc
    assert doc["kind"] == "throughput"
    assert {"device", "device_name", "torch", "commit", "date"} <= doc["environment"].keys()
    assert [(r["method"], r["variant"]) for r in doc["results"]] == [
        (m, v) for m in ("dm", "dc") for v in variants
    ]
    for row in doc["results"]:
        for side in ("ours", "reference"):
            timing = row[side]
            assert timing["steps_timed"] == 2
            assert timing["median_ms"] > 0 and timing["peak_mb"] > 0
            assert timing["kind"] == "max_rss"
        assert row["ratio"] == pytest.approx(
            row["reference"]["median_ms"] / row["ours"]["median_ms"]
        )
        assert len(row["round_ratios"]) == 2
        assert row["ratio"] == pytest.approx(min(row["round_ratios"]))  # the low median of two
        # Same draws, same first loss; the default row's probe may pick bfloat16 on a machine
        # with bfloat16 units (timing decides), which rounds to about 1e-2.
        bf16 = row["variant"] == "default" and row["ours"]["path"]["choice"].get("bf16")
        assert row["loss_rel_diff"] < (5e-2 if bf16 else 1e-4)
        assert row["eval"]["models"] == 1 and row["eval"]["epochs"] == 2
        assert row["eval"]["seconds"] > 0
    # The default row plans a run of 150 steps: autotune probes (too short to try compiling).
    for row in (r for r in doc["results"] if r["variant"] == "default"):
        assert row["ours"]["path"]["how"] == "probed" and row["ours"]["probe_s"] > 0
        assert not any("compile" in name for name in row["ours"]["path"]["timings_ms"])
    assert doc["results"][0]["eval"]["augment"] == "dsa"
    assert doc["results"][-1]["eval"]["augment"] == "none"


def test_rounds_below_one_are_rejected_with_the_reason(capsys) -> None:
    with pytest.raises(SystemExit):
        throughput.main(["--rounds", "0", "--output", "unused.json"])
    assert "--rounds: must be 1 or more, got 0" in capsys.readouterr().err
