"""Smoke test of benchmarks/mtt_memory.py at a tiny shape, in this process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import mtt_memory  # noqa: E402


def test_mtt_memory_records_what_autograd_saves_per_student_step(tmp_path: Path) -> None:
    out = tmp_path / "mtt.json"
    argv = ["--syn-steps", "1", "2", "4", "--dataset-shape", "digits", "--backbone", "ConvNetD1"]
    argv += ["--device", "cpu", "--threads", "1", "--no-isolate", "--output", str(out)]
    doc = mtt_memory.main(argv)
    assert json.loads(out.read_text()) == doc and doc["kind"] == "mtt_memory"
    assert doc["cpu_model"] and {"device", "torch", "commit"} <= doc["environment"].keys()
    rows = doc["results"]
    assert [r["syn_steps"] for r in rows] == [1, 2, 4]
    assert all(r["finite_gradients"] and r["saved_mb"] > 0 for r in rows)
    # Every student step keeps its graph: saved memory grows linearly in the steps.
    saved = [r["saved_mb"] for r in rows]
    assert saved[0] < saved[1] < saved[2]
    per_step = doc["mib_per_step"]["saved_mb"]
    assert abs((saved[2] - saved[0]) / 3 - per_step) < 0.05 * per_step


def test_the_constant_path_keeps_one_student_step_alive_whatever_the_steps(tmp_path: Path) -> None:
    out = tmp_path / "paths.json"
    argv = ["--syn-steps", "2", "8", "--dataset-shape", "digits", "--backbone", "ConvNetD1"]
    argv += ["--memory", "unrolled", "constant", "checkpointed", "--batch-syn", "5"]
    argv += ["--device", "cpu", "--threads", "1", "--no-isolate", "--output", str(out)]
    rows = {(r["memory"], r["syn_steps"]): r for r in mtt_memory.main(argv)["results"]}
    assert all(r["finite_gradients"] for r in rows.values())
    alive = {key: r["peak_saved_mb"] for key, r in rows.items()}
    # Unrolled: every step's graph alive at the end, 4x the steps, about 4x the memory.
    assert alive["unrolled", 8] > 3 * alive["unrolled", 2]
    # Constant (TESLA) and checkpointed: the largest one step's graph (its DSA op drawn per
    # step: 8 steps may draw a costlier op than 2); checkpointed adds 8 x P numbers.
    assert alive["constant", 8] < 1.25 * alive["constant", 2]
    assert alive["checkpointed", 8] < 2 * alive["checkpointed", 2]
    assert alive["constant", 8] < 0.5 * alive["unrolled", 8]
    losses = {m: rows[m, 8]["loss"] for m in ("unrolled", "constant", "checkpointed")}
    assert len(set(losses.values())) == 1  # the same forward
