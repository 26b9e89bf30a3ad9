r"""Synthesis throughput of dcl against the authors'-style reference, and evaluation cost.

Usage::

    python -m benchmarks.throughput --method dm dc --dataset-shape mnist cifar10 --ipc 10 \\
        --batch-real 256 --steps 10 --warmup 2 --device cpu --output results/throughput_cpu.json

For each method and shape it times ``--steps`` synthesis steps after ``--warmup`` ones (median,
with ``torch.cuda.synchronize`` around every step on GPU): ours through a Lightning ``Trainer``
running ``SynthesisModule`` (exactly what ``train_synthetic.py`` runs), and the reference of
``benchmarks/reference.py``. Both start from the same images and draw the same networks, real
batches and augmentations, so their first losses must agree (``loss_rel_diff``). It also times
the evaluation protocol (``run_protocol``) for ``--eval-models`` networks x ``--eval-epochs``.
With ``--rounds R`` the reference and our variants are measured R times in turn and each row
keeps the round with the median ratio (all R ratios are listed): this VM's speed drifts by tens
of percent over minutes, which one back-to-back pair cannot tell from a real difference.
Each measurement runs in its own subprocess (unless ``--no-isolate``), so the CPU peak (max RSS,
a process-wide high-water mark) belongs to that measurement alone; on GPU the peak is CUDA's
max allocated memory during the timed steps. Random images of the dataset's shape are used
unless ``--data-root`` points at the real data (MNIST's torchvision root, CIFAR-10 as an image
folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO, SHAPES, command_line, environment, resolve_device
from benchmarks.measure import Job, run_job
from dcl.evaluation import resolve_augment
from dcl.evaluation.report import write_json
from dcl.methods.dc import default_loops


def _at_least_one(text: str) -> int:
    """An integer option that must be 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--method", nargs="+", default=["all"], choices=["dm", "dc", "dsa", "all"])
    p.add_argument("--dataset-shape", nargs="+", default=["mnist"], choices=sorted(SHAPES))
    p.add_argument("--ipc", type=int, default=10, help="Images per class.")
    p.add_argument("--batch-real", type=int, default=256, help="Real images per class per step.")
    p.add_argument("--backbone", default="ConvNet")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
    p.add_argument("--steps", type=int, default=20, help="Timed steps (median reported).")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps first.")
    p.add_argument("--eval-models", type=int, default=2, help="0 skips the evaluation timing.")
    p.add_argument("--eval-epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="Real data instead of random images.")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads.")
    p.add_argument(
        "--compile",
        action="store_true",
        help="Also time ours with compile=True (torch.compile'd forwards), as its own row.",
    )
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="Also time ours with channels_last=True (NHWC tensors), as its own row.",
    )
    p.add_argument(
        "--planned-steps",
        type=_at_least_one,
        default=None,
        help="Run length the default row's autotune plans for (default: the published count); "
        "it decides whether compiling pays. Only --warmup + --steps are run.",
    )
    p.add_argument(
        "--rounds",
        type=_at_least_one,
        default=1,
        help="Measure the reference and every variant this many times in turn; each row keeps "
        "the round with the median ratio and lists all ratios (steadier on a shared machine).",
    )
    p.add_argument("--no-isolate", action="store_true", help="Measure in this process.")
    p.add_argument(
        "--output", default=None, help="JSON file (default results/throughput_<device>.json)."
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-output", help=argparse.SUPPRESS)
    return p


def variant_name(job: Job) -> str:
    """``default``, ``eager``, ``compiled``, ``channels_last`` or ``compiled+channels_last``."""
    if job.autotune:
        return "default"
    parts = [
        name for name, on in (("compiled", job.compile), ("channels_last", job.channels_last)) if on
    ]
    return "+".join(parts) or "eager"


def planned_steps(method: str, ipc: int) -> int:
    """Image updates of the published setting: DM 20,000; DC/DSA 1,000 outer iterations."""
    return 20_000 if method == "dm" else 1000 * default_loops(ipc)[0]


def _variants(job: Job, args: argparse.Namespace) -> list[Job]:
    """The default path (a user's run), plain eager, and the compiled/NHWC ones asked for."""
    compiles = [False, True] if args.compile else [False]
    layouts = [False, True] if args.channels_last else [False]
    default = dataclasses.replace(
        job, autotune=True, planned_steps=args.planned_steps or planned_steps(job.method, job.ipc)
    )
    fixed = [
        dataclasses.replace(job, compile=c, channels_last=n) for n in layouts for c in compiles
    ]
    return [default, *fixed]


def _row(job: Job, rounds: list[tuple[dict, list[dict]]], i: int, evaluation: dict | None) -> dict:
    """Variant ``i``'s row: the round whose ratio is the median (low median), all ratios kept."""
    ratios = [ref["median_ms"] / ours[i]["median_ms"] for ref, ours in rounds]
    ref, ours = rounds[ratios.index(statistics.median_low(ratios))]
    ours = ours[i]
    first_ours, first_ref = ours["first_losses"][0], ref["first_losses"][0]
    info = SHAPES[job.shape][0]
    return {
        "method": job.method,
        "shape": job.shape,
        "channels": info.channels,
        "image_size": info.image_size,
        "num_classes": info.num_classes,
        "variant": variant_name(job),
        "ipc": job.ipc,
        "batch_real": job.batch_real,
        "backbone": job.backbone,
        "ours": ours,
        "reference": ref,
        "ratio": ref["median_ms"] / ours["median_ms"],
        "round_ratios": ratios,
        "loss_rel_diff": abs(first_ours - first_ref) / max(abs(first_ref), 1e-12),
        "eval": evaluation,
    }


def _print(r: dict[str, Any]) -> None:
    ours, ref = r["ours"], r["reference"]
    print(
        f"{r['method']:>4} {r['shape']:>8} {r['variant']:>8} ipc {r['ipc']} batch "
        f"{r['batch_real']}: ours {ours['median_ms']:9.1f} ms  reference {ref['median_ms']:9.1f} "
        f"ms  ratio {r['ratio']:5.2f}  peak {ours['peak_mb']:7.0f} / {ref['peak_mb']:7.0f} MiB "
        f"({ours['kind']})  loss diff {r['loss_rel_diff']:.1e}"
        + (f"  probe {ours['probe_s']:.1f} s" if ours.get("path") else "")
        + (
            f"  rounds {', '.join(f'{x:.2f}' for x in r['round_ratios'])}"
            if len(r["round_ratios"]) > 1
            else ""
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table, write the JSON and return it."""
    args = build_parser().parse_args(argv)
    if args.worker:  # a subprocess measuring one job
        job = Job(**json.loads(args.worker))
        result = run_job(job, isolate=False)
        Path(args.worker_output).write_text(json.dumps(result))
        return result
    device = resolve_device(args.device)
    methods = ["dm", "dc", "dsa"] if "all" in args.method else list(dict.fromkeys(args.method))
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, evals = [], {}
    for shape in args.dataset_shape:
        for method in methods:
            job = Job(
                "ours",
                method,
                shape,
                args.ipc,
                args.batch_real,
                args.backbone,
                str(device),
                args.steps,
                args.warmup,
                args.eval_models,
                args.eval_epochs,
                args.seed,
                args.data_root,
                args.threads,
            )
            key = (shape, resolve_augment(method, shape))
            if args.eval_models > 0 and key not in evals:
                evals[key] = run_job(dataclasses.replace(job, kind="eval"), not args.no_isolate)
            variants = _variants(job, args)
            rounds = []  # (reference, ours per variant): taken in turn, so drift hits all alike
            for _ in range(args.rounds):
                ref = run_job(dataclasses.replace(job, kind="reference"), not args.no_isolate)
                rounds.append((ref, [run_job(v, not args.no_isolate) for v in variants]))
            for i, variant in enumerate(variants):
                rows.append(_row(variant, rounds, i, evals.get(key)))
                _print(rows[-1])
    document = {
        "kind": "throughput",
        "environment": environment(device),
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
        "isolated": not args.no_isolate,
        "command": command_line("throughput", argv),
        "results": rows,
    }
    out = Path(args.output or REPO / "results" / f"throughput_{device.type}.json")
    write_json(document, out)
    print(f"Results: {out}")
    return document


if __name__ == "__main__":
    main()
