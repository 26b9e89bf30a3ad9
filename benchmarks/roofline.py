"""How close an evaluation training step already runs to this CPU's float32 peak.

Usage::

    python -m benchmarks.roofline [--threads 1] [--output results/roofline/cpu.json]

Counts the floating-point operations of one evaluation training step (ConvNet forward, cross
entropy, backward, SGD; ``torch.utils.flop_counter``) at the two evaluation shapes of
``benchmarks.evaluation_speed`` (digits 10 images of 8x8: the quick start; MNIST 100 images of
28x28: 10 ipc), times the step, and compares the achieved rate with a large float32 matmul's on
the same core: the ceiling for any implementation of the same float32 arithmetic. A speed-up
of ``s`` over a loop running the same operators needs ``s`` times the achieved rate.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import RESULTS, command_line, environment
from dcl.networks import build_network

SHAPES = {"digits_ipc1": (1, 8, 10), "mnist_ipc10": (1, 28, 100)}  # channels, size, images


def step_rate(channels: int, size: int, images: int, seconds: float) -> dict[str, Any]:
    """FLOPs of one training step and the rate it runs at (timed for about ``seconds``)."""
    net = build_network("ConvNet", channels, 10, size, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(images, channels, size, size), torch.arange(images) % 10

    def step() -> None:
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    for _ in range(3):
        step()
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    best = min(times)
    flops = counter.get_total_flops()
    return {"flops": flops, "step_ms": 1000 * best, "gflops": flops / best / 1e9}


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an ``n``-cubed float32 matmul: the core's practical float32 peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure and write the document."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.roofline", description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=3.0, help="Timing per shape.")
    p.add_argument("--output", default=str(RESULTS / "roofline" / "cpu.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak = matmul_rate()
    rows = {}
    for name, shape in SHAPES.items():
        row = step_rate(*shape, args.seconds)
        row["fraction_of_peak"] = row["gflops"] / peak
        row["speedup_ceiling"] = peak / row["gflops"]
        rows[name] = row
        print(
            f"{name}: {row['flops'] / 1e6:.0f} MFLOP/step, {row['step_ms']:.2f} ms, "
            f"{row['gflops']:.1f} GFLOP/s = {100 * row['fraction_of_peak']:.0f}% of the "
            f"{peak:.1f} GFLOP/s matmul peak: at most {row['speedup_ceiling']:.2f}x faster"
        )
    doc = {
        "kind": "roofline",
        "command": command_line("roofline", argv),
        "environment": environment(torch.device("cpu")),
        "threads": args.threads,
        "matmul_gflops": peak,
        "steps": rows,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


if __name__ == "__main__":
    main()
