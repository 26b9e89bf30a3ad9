"""The profiling helper of benchmarks/cpu_probes.py (the timings themselves are a benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks.cpu_probes import profile  # noqa: E402


def test_profile_lists_the_step_operators_costliest_first():
    x = torch.randn(256, 256)
    rows = profile(lambda: torch.relu(x @ x), repeats=2, top=3)
    names = [name for name, _ in rows]
    assert "aten::mm" in names and len(rows) <= 3
    ms = [t for _, t in rows]
    assert ms == sorted(ms, reverse=True) and ms[0] > 0
