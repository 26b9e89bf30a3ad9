"""Smoke test of benchmarks/throughput.py at a tiny shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import throughput  # noqa: E402
from dcl.calls import cpu_compiler  # noqa: E402


def _run(tmp_path: Path, methods: list[str], *extra: str) -> dict:
    out = tmp_path / "throughput.json"
    argv = [
        "--method", *methods, "--dataset-shape", "digits", "--ipc", "1", "--batch-real", "4",
        "--steps", "2", "--warmup", "1", "--eval-models", "1", "--eval-epochs", "2",
        "--device", "cpu", "--threads", "1", "--no-isolate", "--output", str(out), *extra,
    ]  # fmt: skip
    doc = throughput.main(argv)
    assert json.loads(out.read_text()) == doc
    return doc


def _check_row(row: dict, rounds: int) -> None:
    for side in ("ours", "reference"):
        timing = row[side]
        assert timing["steps_timed"] == 2
        assert timing["median_ms"] > 0 and timing["peak_mb"] > 0
        assert timing["kind"] == "max_rss"
    assert row["ratio"] == pytest.approx(row["reference"]["median_ms"] / row["ours"]["median_ms"])
    assert len(row["round_ratios"]) == rounds
    assert row["ratio"] == pytest.approx(min(row["round_ratios"]))  # the low median
    # Same draws, same first loss; the default row's probe may pick bfloat16 on a machine
    # with bfloat16 units (timing decides), which rounds to about 1e-2.
    bf16 = row["variant"] == "default" and row["ours"]["path"]["choice"].get("bf16")
    assert row["loss_rel_diff"] < (5e-2 if bf16 else 1e-4)
    assert row["eval"]["models"] == 1 and row["eval"]["epochs"] == 2
    assert row["eval"]["seconds"] > 0


def test_throughput_writes_timings_memory_and_ratio(tmp_path: Path) -> None:
    rounds = ["--rounds", "2", "--planned-steps", "150"]
    doc = _run(tmp_path, ["dm", "dc"], "--channels-last", *rounds)
    assert doc["kind"] == "throughput"
    assert {"device", "device_name", "torch", "commit", "date"} <= doc["environment"].keys()
    variants = ["default", "eager", "channels_last"]
    assert [(r["method"], r["variant"]) for r in doc["results"]] == [
        (m, v) for m in ("dm", "dc") for v in variants
    ]
    for row in doc["results"]:
        _check_row(row, rounds=2)
    # The default row plans a run of 150 steps: autotune probes (too short to try compiling).
    for row in (r for r in doc["results"] if r["variant"] == "default"):
        assert row["ours"]["path"]["how"] == "probed" and row["ours"]["probe_s"] > 0
        assert not any("compile" in name for name in row["ours"]["path"]["timings_ms"])
    assert doc["results"][0]["eval"]["augment"] == "dsa"
    assert doc["results"][-1]["eval"]["augment"] == "none"


@pytest.mark.compile
@pytest.mark.skipif(not cpu_compiler(), reason="torch.compile on CPU needs a C++ compiler")
def test_compiled_variants_are_timed_beside_eager(tmp_path: Path) -> None:
    # One method and one round: compiling is the slow part, and the rows are built alike.
    doc = _run(tmp_path, ["dm"], "--channels-last", "--compile", "--rounds", "1")
    assert [r["variant"] for r in doc["results"]] == [
        "default",
        "eager",
        "compiled",
        "channels_last",
        "compiled+channels_last",
    ]
    for row in doc["results"]:
        _check_row(row, rounds=1)


def test_rounds_below_one_are_rejected_with_the_reason(capsys) -> None:
    with pytest.raises(SystemExit):
        throughput.main(["--rounds", "0", "--output", "unused.json"])
    assert "--rounds: must be 1 or more, got 0" in capsys.readouterr().err
