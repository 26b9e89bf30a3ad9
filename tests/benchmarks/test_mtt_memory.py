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
