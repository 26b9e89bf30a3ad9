r"""Memory of one MTT image update against the number of unrolled student steps.

Usage::

    python -m benchmarks.mtt_memory --syn-steps 10 20 40 80 --dataset-shape cifar10 --ipc 10 \
        --backbone ConvNet --memory unrolled constant --device cuda

For each ``memory`` (MTT's option: ``unrolled``, TESLA's ``constant``, the exact
``checkpointed``) and ``syn_steps`` it runs one MTT step (the student trained from an expert's
parameters, ``trajectory_distance`` to a target, backward to the images and the learnable lr) in
a fresh subprocess, on random images of the dataset's shape (``SHAPES``, or any dataset's
facts), and records:

- ``peak_mb``: on GPU, CUDA's max allocated memory during the step minus what was allocated
  before it; on CPU, the process's max RSS after the step minus its RSS before (the subprocess
  holds nothing else, so its high-water mark is the step's);
- ``saved_mb``: the bytes autograd saved for the backward pass (every tensor packed by
  ``saved_tensors_hooks``, each storage counted once): the part that grows with ``syn_steps``,
  the same on every device;
- ``peak_saved_mb``: the most of those alive at once (a saved tensor dies with its graph): the
  unrolled path's equals ``saved_mb``, the constant path's is one student step's graph;
- ``seconds``: the step's wall time.

A least-squares line through the points gives the memory per student step, per ``memory``. The
unrolled path keeps every step's graph (``create_graph``) for the backward through all of them,
so memory grows linearly in ``syn_steps``; ``batch_syn`` bounds each step's share. The constant
and checkpointed paths keep one step's graph at a time (the latter also ``syn_steps`` flat
parameter vectors).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
import weakref
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    REPO,
    SHAPES,
    command_line,
    environment,
    resolve_device,
    rss_mb,
    shape_info,
    sync,
)
from dcl import tuning
from dcl.augmentation import DSA
from dcl.data.registry import STATIC_INFO
from dcl.evaluation.report import write_json
from dcl.methods.mtt.method import UNROLLS
from dcl.methods.mtt.student import flatten_parameters
from dcl.networks import build_network
from dcl.objectives import trajectory_distance


@dataclasses.dataclass
class Box:
    """A saved tensor, held by the graph that saved it (its end tells when the graph let go)."""

    t: torch.Tensor


@dataclasses.dataclass(frozen=True)
class Job:
    """One measurement: a step of ``syn_steps`` at one shape."""

    syn_steps: int
    shape: str
    ipc: int
    backbone: str
    batch_syn: int | None
    augment: bool
    device: str
    threads: int | None
    seed: int = 0
    memory: str = "unrolled"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.mtt_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--syn-steps", type=int, nargs="+", default=[5, 10, 20, 40])
    shapes = sorted(set(SHAPES) | set(STATIC_INFO) - {"imagefolder"})
    p.add_argument("--dataset-shape", default="digits", choices=shapes)
    p.add_argument("--ipc", type=int, default=1, help="Images per class.")
    p.add_argument("--backbone", default="ConvNet", help="Student network.")
    p.add_argument("--batch-syn", type=int, default=None, help="Images per step (all: unset).")
    p.add_argument("--memory", nargs="+", default=["unrolled"], choices=sorted(UNROLLS))
    p.add_argument("--no-augment", action="store_true", help="Skip DSA on the student batches.")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda.")
    p.add_argument("--threads", type=int, default=None, help="torch threads (CPU).")
    p.add_argument("--no-isolate", action="store_true", help="Measure in this process (tests).")
    p.add_argument("--output", default=None, help="JSON file (default results/mtt_memory/).")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-output", help=argparse.SUPPRESS)
    return p


def measure(job: Job) -> dict[str, Any]:
    """Run one MTT step of ``job`` and return its memory and time."""
    if job.threads:
        torch.set_num_threads(job.threads)
    device = torch.device(job.device)
    info = shape_info(job.shape)
    g = torch.Generator().manual_seed(job.seed)
    k, c, s = info.num_classes, info.channels, info.image_size
    net = build_network(job.backbone, c, k, s, generator=g, device=device).requires_grad_(False)
    start = flatten_parameters(net)
    target = start + 0.01 * torch.randn(start.shape, generator=g).to(device)
    images = torch.randn(k * job.ipc, c, s, s, generator=g).to(device).requires_grad_(True)
    labels = torch.arange(k, device=device).repeat_interleave(job.ipc)
    lr = torch.tensor(0.01, device=device, requires_grad=True)
    dsa, student = DSA(), torch.Generator(device=device).manual_seed(job.seed + 1)
    augment = (lambda x: dsa.per_image(x, student)) if job.augment else None
    saved: dict[int, int] = {}
    live: dict[int, list[int]] = {}  # storage -> [saved tensors alive on it, its bytes]
    alive = [0, 0]  # bytes saved and alive now, the most at once

    def release(ptr: int) -> None:
        entry = live[ptr]
        entry[0] -= 1
        if entry[0] == 0:
            alive[0] -= live.pop(ptr)[1]

    def pack(t: torch.Tensor) -> Box:
        storage = t.untyped_storage()
        ptr, size = storage.data_ptr(), storage.nbytes()
        saved[ptr] = size
        entry = live.setdefault(ptr, [0, size])
        if entry[0] == 0:
            alive[0] += size
            alive[1] = max(alive)
        entry[0] += 1
        box = Box(t)
        weakref.finalize(box, release, ptr)  # the graph holding it was freed
        return box

    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device) if device.type == "cuda" else rss_mb() * 2**20
    t0 = time.perf_counter()
    student_run = UNROLLS[job.memory]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.t):
        end = student_run(
            net, start, images, labels, lr, job.syn_steps, job.batch_syn, augment, student
        )
        loss = trajectory_distance(end, start, target)
        loss.backward()  # inside: the constant paths' recomputed graphs are counted too
    sync(device)
    seconds = time.perf_counter() - t0
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device) - before, "cuda_max_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        kind = "max_rss_growth"
    return {
        **dataclasses.asdict(job),
        "num_images": k * job.ipc,
        "num_parameters": start.numel(),
        "peak_mb": peak / 2**20,
        "peak_kind": kind,
        "saved_mb": sum(saved.values()) / 2**20,
        "peak_saved_mb": alive[1] / 2**20,
        "seconds": seconds,
        "loss": float(loss.detach()),
        "finite_gradients": bool(images.grad.isfinite().all() and lr.grad.isfinite()),
    }


def per_step(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """MiB per student step of each measure: for one path, flat; for several, per path."""
    keys = ("peak_mb", "saved_mb", "peak_saved_mb", "seconds")
    paths = sorted({r["memory"] for r in rows})
    slopes = {m: {k: slope([r for r in rows if r["memory"] == m], k) for k in keys} for m in paths}
    return slopes[paths[0]] if len(paths) == 1 else slopes


def run(job: Job, isolate: bool) -> dict[str, Any]:
    """``measure(job)``, in a fresh subprocess when ``isolate`` (its CPU peak is its own)."""
    if not isolate:
        return measure(job)
    from benchmarks.common import run_worker

    return run_worker("mtt_memory", job)


def slope(rows: list[dict[str, Any]], key: str) -> float | None:
    """Least-squares MiB per student step of ``key`` over the rows (``None``: one point)."""
    xs, ys = [r["syn_steps"] for r in rows], [r[key] for r in rows]
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return num / sum((x - mx) ** 2 for x in xs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the measurements; print a table, write the JSON and return it."""
    args = build_parser().parse_args(argv)
    if args.worker:  # a subprocess measuring one job
        result = measure(Job(**json.loads(args.worker)))
        Path(args.worker_output).write_text(json.dumps(result))
        return result
    device = resolve_device(args.device)
    rows = []
    for memory in args.memory:
        for steps in args.syn_steps:
            shape = (args.dataset_shape, args.ipc, args.backbone, args.batch_syn)
            job = Job(steps, *shape, not args.no_augment, str(device), args.threads, 0, memory)
            rows.append(run(job, not args.no_isolate))
            r = rows[-1]
            print(
                f"{memory:>12} syn_steps {steps:4d}: peak {r['peak_mb']:9.1f} MiB "
                f"({r['peak_kind']}), saved {r['saved_mb']:9.1f} MiB, alive at most "
                f"{r['peak_saved_mb']:9.1f} MiB, {r['seconds']:.2f} s",
                flush=True,
            )
    batch = f"_batch{args.batch_syn}" if args.batch_syn else ""
    paths = "" if args.memory == ["unrolled"] else "_" + "_".join(args.memory)
    name = f"{args.dataset_shape}_{args.backbone}_ipc{args.ipc}{batch}{paths}_{device.type}"
    document = {
        "kind": "mtt_memory",
        "environment": environment(device),
        "cpu_model": tuning.cpu_model(),
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
        "isolated": not args.no_isolate,
        "command": command_line("mtt_memory", argv),
        "results": rows,
        "mib_per_step": per_step(rows),
    }
    out = Path(args.output or REPO / "results" / "mtt_memory" / f"{name}.json")
    write_json(document, out)
    print(f"Results: {out}")
    return document


if __name__ == "__main__":
    main()
