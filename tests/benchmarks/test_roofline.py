"""Smoke test of benchmarks/roofline.py: FLOPs and rates of an evaluation step against peak."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import roofline  # noqa: E402


def test_step_flops_match_the_convolutions_by_hand():
    # digits ConvNet forward: conv 1->128 at 8x8 (1x1 padding keeps 8x8), 128->128 at 4x4 and
    # at 2x2, then Linear 128->10; 2 FLOPs per multiply-add, backward twice the forward
    # except the first conv's input gradient, which nothing needs.
    row = roofline.step_rate(1, 8, 10, seconds=0.0)
    conv = 2 * 10 * 128 * 9 * (1 * 64 + 128 * 16 + 128 * 4)
    linear = 2 * 10 * 128 * 10
    first_input_grad = 2 * 10 * 128 * 9 * 1 * 64
    assert row["flops"] == 3 * (conv + linear) - first_input_grad
    assert row["step_ms"] > 0 and row["gflops"] > 0


def test_writes_the_document(tmp_path):
    out = tmp_path / "r.json"
    doc = roofline.main(["--seconds", "0", "--output", str(out)])
    assert json.loads(out.read_text()) == doc
    assert set(doc["steps"]) == set(roofline.SHAPES)
    for row in doc["steps"].values():
        assert row["speedup_ceiling"] == pytest.approx(doc["matmul_gflops"] / row["gflops"])
