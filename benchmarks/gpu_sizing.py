"""How many 10-minute GPU calls each published DC / DSA / DM cell needs, from counted FLOPs.

Usage::

    python -m benchmarks.gpu_sizing [--anchor results/throughput_cuda_cifar10.json]
        [--output results/gpu_sizing.json]

For every cell of the DC, DSA and DM tables that two CPU cores cannot run in full (CIFAR-10 at
10 and 50 images per class, CIFAR-100, Tiny ImageNet), it counts the floating-point operations
of one image update and of the suite's evaluation (5 ConvNets x E epochs) with
``torch.utils.flop_counter`` on the meta device (no arithmetic is done), reading steps, loops
and real batch from the shipped config. A projection needs a measured time: the anchor is a GPU
throughput result of the same method at CIFAR-10 10 ipc (``gpu_suite.sh run
throughput-cifar10``), scaled by the FLOP ratio. Larger cells use a GPU better than the anchor,
so the projection errs long. Without an anchor it writes the FLOPs and the minutes at an
assumed sustained rate (``--assume-tflops``, 50 by default: a guess, not a measurement, between
an H100's float32 and TF32 peaks; small convolutions reach a fraction of either).

On a CPU the FLOP count tracks the measured step time: one AMD EPYC thread ran DC's CIFAR-10 step
at 37 GFLOP/s (1 ipc, real batch 64) and 33 GFLOP/s (10 ipc, real batch 256, with its inner
loop), from ``results/throughput_cpu*.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import RESULTS, command_line
from dcl.configs import config_path
from dcl.data.registry import STATIC_INFO
from dcl.networks import build_network

# The published cells a GPU has to run: (method, dataset, ipc).
CELLS: tuple[tuple[str, str, int], ...] = (
    *((m, "cifar10", ipc) for m in ("dc", "dsa", "dm") for ipc in (10, 50)),
    *((m, "cifar100", ipc) for m in ("dc", "dsa") for ipc in (1, 10)),
    *(("dm", "cifar100", ipc) for ipc in (1, 10, 50)),
    *(("dm", "tinyimagenet", ipc) for ipc in (1, 10, 50)),
)
CALL_SECONDS = 480  # of a 600 s call: the rest starts the machine, unpacks data, compiles
SUITE_MODELS = 5
TRAIN_BATCH = 256  # the evaluation's and DC's inner loop's batch


def _count(fn: Any) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def primitives(dataset: str) -> dict[str, Any]:
    """FLOP counters of the four passes a step is made of, as functions of the batch size."""
    info = STATIC_INFO[dataset]
    net = build_network("ConvNet", info.channels, info.num_classes, info.image_size).to("meta")
    shape = (info.channels, info.image_size, info.image_size)

    def images(n: int, grad: bool = False) -> torch.Tensor:
        return torch.empty(n, *shape, device="meta", requires_grad=grad)

    def labels(n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.long, device="meta")

    def forward(n: int) -> int:  # DM's real embedding, no graph
        with torch.no_grad():
            return _count(lambda: net(images(n)))

    def train(n: int) -> int:  # one SGD step's forward and backward (parameter gradients)
        return _count(lambda: F.cross_entropy(net(images(n)), labels(n)).backward())

    def to_images(n: int) -> int:  # forward and backward to the images (DM's synthetic side)
        return _count(lambda: net(images(n, grad=True)).sum().backward())

    def matched(n: int) -> int:  # DC's synthetic gradients with their graph, then to the images
        def run() -> None:
            x = images(n, grad=True)
            grads = torch.autograd.grad(
                F.cross_entropy(net(x), labels(n)), list(net.parameters()), create_graph=True
            )
            sum(g.sum() for g in grads).backward()

        return _count(run)

    return {"forward": forward, "train": train, "to_images": to_images, "matched": matched}


def epoch_flops(p: dict[str, Any], n: int) -> int:
    """One training epoch over ``n`` images in batches of ``TRAIN_BATCH``."""
    full, rest = divmod(n, TRAIN_BATCH)
    return full * p["train"](TRAIN_BATCH) + (p["train"](rest) if rest else 0)


def step_flops(method: str, p: dict[str, Any], cfg: dict[str, Any], classes: int) -> float:
    """One image update, averaged over an outer loop for DC/DSA (the inner loop skips its last)."""
    model = cfg["model"]
    ipc, real = model["ipc"], model["batch_real"]
    if method == "dm":
        return classes * (p["forward"](real) + p["to_images"](ipc))
    outer, inner = model["outer_loop"], model["inner_loop"]
    matching = classes * (p["train"](real) + p["matched"](ipc))
    return matching + inner * epoch_flops(p, classes * ipc) * (outer - 1) / outer


def cell(method: str, dataset: str, ipc: int) -> dict[str, Any]:
    """FLOPs of one cell's synthesis and of the suite's evaluation."""
    cfg = yaml.safe_load(config_path(f"{method}/{dataset}_ipc{ipc}").read_text())
    p = primitives(dataset)
    classes = STATIC_INFO[dataset].num_classes
    steps = int(cfg["trainer"]["max_steps"])
    epochs = 1000 if method in ("dsa", "dm") else 300  # augmented evaluation trains longer
    return {
        "method": method,
        "dataset": dataset,
        "ipc": ipc,
        "steps": steps,
        "step_gflop": step_flops(method, p, cfg, classes) / 1e9,
        "evaluation_gflop": SUITE_MODELS * epochs * epoch_flops(p, classes * ipc) / 1e9,
    }


def anchor_seconds(path: Path) -> dict[str, float]:
    """Seconds per step of each method at CIFAR-10 10 ipc, from a GPU throughput result."""
    data = json.loads(path.read_text())
    return {
        row["method"]: row["ours"]["median_ms"] / 1e3
        for row in data["results"]
        if row.get("shape") == "cifar10" and row.get("ipc") == 10 and row["variant"] == "default"
    }


def project(rows: list[dict[str, Any]], anchors: dict[str, float]) -> None:
    """Add projected minutes and 10-minute calls to each row whose method has an anchor."""
    per_gflop = {}
    for row in rows:
        if row["dataset"] == "cifar10" and row["ipc"] == 10 and row["method"] in anchors:
            per_gflop[row["method"]] = anchors[row["method"]] / row["step_gflop"]
    for row in rows:
        rate = per_gflop.get(row["method"])
        if rate is None:
            continue
        seconds = rate * (row["steps"] * row["step_gflop"] + row["evaluation_gflop"])
        row["projected_minutes"] = round(seconds / 60, 1)
        row["calls"] = math.ceil(seconds / CALL_SECONDS)


def assume(rows: list[dict[str, Any]], tflops: float) -> None:
    """Add the minutes and calls each cell takes at ``tflops`` sustained (an assumption)."""
    for row in rows:
        seconds = (row["steps"] * row["step_gflop"] + row["evaluation_gflop"]) / (tflops * 1e3)
        row["assumed_minutes"] = round(seconds / 60, 1)
        row["assumed_calls"] = math.ceil(seconds / CALL_SECONDS)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchor", type=Path, default=RESULTS / "throughput_cuda_cifar10.json")
    parser.add_argument("--assume-tflops", type=float, default=50.0)
    parser.add_argument("--output", type=Path, default=RESULTS / "gpu_sizing.json")
    args = parser.parse_args(argv)
    rows = [cell(*c) for c in CELLS]
    assume(rows, args.assume_tflops)
    if args.anchor.exists():
        project(rows, anchor_seconds(args.anchor))
    for row in rows:
        when = f"at {args.assume_tflops:g} TFLOP/s {row['assumed_minutes']} min"
        if "calls" in row:
            when += f"; from the anchor {row['projected_minutes']} min, {row['calls']} call(s)"
        print(
            f"{row['method']:>3} {row['dataset']:>12} ipc {row['ipc']:>2}: {row['steps']:>6} steps"
            f" x {row['step_gflop']:9.1f} GFLOP + evaluation {row['evaluation_gflop']:9.1f}"
            f" GFLOP  {when}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    anchor = str(args.anchor) if args.anchor.exists() else None
    record = {
        "command": command_line("gpu_sizing", argv),
        "anchor": anchor,
        "assumed_tflops": args.assume_tflops,
        "call_seconds": CALL_SECONDS,
        "cells": rows,
    }
    args.output.write_text(json.dumps(record, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
