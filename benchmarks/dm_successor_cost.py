r"""Cost of one DataDAM step against one DM step at the same shape, interleaved in one process.

Usage (MNIST's shape, 10 classes, 10 images per class, 64 real images per class, one thread)::

    python -m benchmarks.dm_successor_cost --rounds 5 --steps 3 --threads 1

A step is what ``SynthesisModule.training_step`` spends on the loss: a freshly initialised
network (seeded), the siamese augmentation of the dataset's published strategy drawn for every
class and applied to real and synthetic images alike, the matching loss on all classes (the
default class chunk of each method: one class per forward on CPU, all at once with batch norm)
and its backward to the synthetic images. Real images are random (the shape is what costs).
Each round times ``--steps`` DM steps then as many DataDAM steps (the order alternates between
rounds); the ratio of each round is DataDAM's median step over DM's, and the reported ratio is
the median over rounds. Written to ``results/dm_successor/cost_<device>.json``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from benchmarks.common import RESULTS, command_line, environment, now, resolve_device, sync
from dcl import tuning
from dcl.augmentation import DSA, default_dsa_strategy
from dcl.evaluation.report import write_json
from dcl.methods.datadam import datadam_loss
from dcl.methods.dm import class_chunk_for, dm_loss
from dcl.networks import build_network

Loss = Callable[..., Tensor]


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.dm_successor_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--batch-real", type=int, default=64)
    p.add_argument("--dataset", default="mnist", help="Names the published DSA strategy.")
    p.add_argument("--backbones", default="ConvNet,ConvNetBN", help="Comma-separated.")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="Steps per method per round.")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads.")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N.")
    p.add_argument("--output", default=None, help="JSON (default results/dm_successor/...).")
    return p


def step(loss_fn: Loss, backbone: str, real: Tensor, syn: Tensor, dsa: DSA, index: int) -> float:
    """Seconds of one step: fresh network, siamese augmentation, loss and its backward."""
    device = syn.device
    sync(device)
    start = now()
    g = torch.Generator(device).manual_seed(index)
    k, c, s = real.shape[0], real.shape[2], real.shape[-1]
    net = build_network(backbone, c, k, s, generator=g, device=device).requires_grad_(False)
    params = dsa.sample(k, g, device=device)

    def augment(r: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return dsa.apply(r, params), dsa.apply(y, params)

    x = syn.detach().requires_grad_(True)
    loss = loss_fn(net, real, x, augment, class_chunk_for(net, device))
    loss.backward()
    sync(device)
    return now() - start


def measure(args: argparse.Namespace, backbone: str, device: torch.device) -> dict[str, Any]:
    """Interleaved rounds of DM and DataDAM steps on one backbone."""
    g = torch.Generator().manual_seed(0)
    shape = (args.classes, args.channels, args.image_size, args.image_size)
    real = torch.randn(shape[0], args.batch_real, *shape[1:], generator=g).to(device)
    syn = torch.randn(shape[0], args.ipc, *shape[1:], generator=g).to(device)
    dsa = DSA(default_dsa_strategy(args.dataset))
    probe = build_network(backbone, args.channels, args.classes, args.image_size)
    chunk = class_chunk_for(probe, device)  # 0: all classes in one forward
    losses: dict[str, Loss] = {"dm": dm_loss, "datadam": datadam_loss}
    for fn in losses.values():  # warm-up: allocator, kernels
        step(fn, backbone, real, syn, dsa, 0)
    times: dict[str, list[float]] = {name: [] for name in losses}
    ratios = []
    index = 1
    for r in range(args.rounds):
        order = list(losses) if r % 2 == 0 else list(reversed(losses))
        medians = {}
        for name in order:
            seconds = []
            for _ in range(args.steps):
                seconds.append(step(losses[name], backbone, real, syn, dsa, index))
                index += 1
            times[name] += seconds
            medians[name] = statistics.median(seconds)
        ratios.append(medians["datadam"] / medians["dm"])
    return {
        "backbone": backbone,
        "class_chunk": chunk,
        "dm_step_ms": round(1000 * statistics.median(times["dm"]), 2),
        "datadam_step_ms": round(1000 * statistics.median(times["datadam"]), 2),
        "ratio_per_round": [round(x, 3) for x in ratios],
        "ratio": round(statistics.median(ratios), 3),
        "seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every backbone and write the JSON document."""
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        rows = [measure(args, b, device) for b in args.backbones.split(",")]
    finally:
        torch.set_num_threads(before)
    shape = f"{args.channels}x{args.image_size}x{args.image_size}"
    document = {
        "what": "one DataDAM step / one DM step, same shape, interleaved rounds",
        "command": command_line("dm_successor_cost", argv),
        "cpu_model": tuning.cpu_model(),
        "threads": args.threads,
        "shape": {
            "image": shape,
            "classes": args.classes,
            "ipc": args.ipc,
            "batch_real": args.batch_real,
            "dsa_strategy": default_dsa_strategy(args.dataset),
        },
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "results": rows,
        "environment": environment(device),
    }
    out = args.output or RESULTS / "dm_successor" / f"cost_{device.type}.json"
    write_json(document, out)
    for row in rows:
        print(
            f"{row['backbone']}: DM {row['dm_step_ms']} ms, DataDAM {row['datadam_step_ms']} ms, "
            f"ratio {row['ratio']} (rounds {row['ratio_per_round']})"
        )
    print(f"Written to {out}")
    return document


if __name__ == "__main__":
    main()
