"""The GPU sizing tool: counted FLOPs against a hand count, and its projection arithmetic."""

from __future__ import annotations

import json

import pytest

from benchmarks import gpu_sizing


def convnet_forward_flops(channels: int, size: int, classes: int, width: int = 128) -> int:
    """ConvNet (3 blocks of 3x3 conv, pooling halves the side) counted by hand, one image."""
    flops, cin = 0, channels
    for _ in range(3):
        flops += 2 * cin * width * 9 * size * size
        cin, size = width, size // 2
    return flops + 2 * width * size * size * classes


def test_forward_flops_match_a_hand_count() -> None:
    p = gpu_sizing.primitives("cifar10")
    assert p["forward"](7) == 7 * convnet_forward_flops(3, 32, 10)


def test_training_costs_three_forwards() -> None:
    # Backward of a conv net costs twice its forward (input and weight gradients), except
    # the first layer, whose input needs no gradient.
    p = gpu_sizing.primitives("cifar10")
    first = 2 * 3 * 128 * 9 * 32 * 32
    assert p["train"](4) == 4 * (3 * convnet_forward_flops(3, 32, 10) - first)


def test_dc_at_one_ipc_has_no_inner_loop() -> None:
    p = gpu_sizing.primitives("cifar10")
    cfg = {"model": {"ipc": 1, "batch_real": 256, "outer_loop": 1, "inner_loop": 1}}
    expected = 10 * (p["train"](256) + p["matched"](1))
    assert gpu_sizing.step_flops("dc", p, cfg, 10) == expected


def test_projection_scales_the_anchor_by_flops() -> None:
    rows = [
        {
            "method": "dm",
            "dataset": "cifar10",
            "ipc": 10,
            "steps": 100,
            "step_gflop": 2.0,
            "evaluation_gflop": 50.0,
        },
        {
            "method": "dm",
            "dataset": "cifar100",
            "ipc": 1,
            "steps": 100,
            "step_gflop": 8.0,
            "evaluation_gflop": 0.0,
        },
        {
            "method": "dc",
            "dataset": "cifar10",
            "ipc": 50,
            "steps": 10,
            "step_gflop": 1.0,
            "evaluation_gflop": 0.0,
        },
    ]
    gpu_sizing.project(rows, {"dm": 3.0})  # 3 s per 2 GFLOP step: 1.5 s per GFLOP
    assert rows[0]["projected_minutes"] == pytest.approx(1.5 * 250 / 60, abs=0.05)
    assert rows[1]["projected_minutes"] == pytest.approx(1.5 * 800 / 60, abs=0.05)
    assert rows[1]["calls"] == 3  # 1200 s over 480 s calls
    assert "calls" not in rows[2]  # no DC anchor: FLOPs only


def test_anchor_reads_the_default_rows(tmp_path) -> None:
    rows = [
        {
            "method": "dm",
            "shape": "cifar10",
            "ipc": 10,
            "variant": "eager",
            "ours": {"median_ms": 900.0},
        },
        {
            "method": "dm",
            "shape": "cifar10",
            "ipc": 10,
            "variant": "default",
            "ours": {"median_ms": 300.0},
        },
        {
            "method": "dc",
            "shape": "mnist",
            "ipc": 10,
            "variant": "default",
            "ours": {"median_ms": 100.0},
        },
    ]
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps({"results": rows}))
    assert gpu_sizing.anchor_seconds(path) == {"dm": 0.3}
