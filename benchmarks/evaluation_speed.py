r"""Evaluation time of dcl (``run_protocol``, default flags) against the release's loop.

Usage (the quick start's evaluation: digits, 1 image per class, ConvNet, DSA, 300 epochs)::

    python -m benchmarks.evaluation_speed --dataset-shape digits --ipc 1 --model ConvNet \\
        --augment dsa --epochs 300 --num-models 3 --rounds 5 --device cpu

Both sides train ``--num-models`` fresh networks on the same set and test them on the same test
images, with the same protocol: the release's schedule (epochs 0..E, lr 0.01 dropped x0.1 after
epoch E//2+1, momentum 0.9, weight decay 5e-4, batch 256), augmentation (dcl's DSA/DC operators,
the release's), initial weights and random streams. The reference is the release's
``evaluate_synset`` loop written without ``dcl`` (``benchmarks/reference_ops.py``): one network
after the other, eager, NCHW. Ours is ``run_protocol`` with its default flags, so the autotuning
probe runs (on an empty cache, as on a first run) and is timed with it; ``probe_seconds`` says
how much of that it was, and ``ratio_without_probe`` is the ratio of a run whose decision is
cached. Where ours takes the plain path the two compute the same networks, so their accuracies
agree. Both count the images through the training loss (``trained_images``). With ``--rounds R``
the two are measured R times in turn and the round with the median ratio is kept (all ratios are
listed); each measurement runs in a fresh process unless ``--no-isolate``. MNIST and CIFAR-10
shapes use random images unless ``--data-root`` points at the real data; digits are real.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, SHAPES, command_line, environment, resolve_device
from benchmarks.evaluation_jobs import Job, run_job
from dcl.evaluation.recipe import AUGMENTS
from dcl.evaluation.report import write_json


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.evaluation_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset-shape", default="digits", choices=sorted(SHAPES))
    p.add_argument("--data-root", default=None, help="Real data instead of random images.")
    p.add_argument("--ipc", type=int, default=1, help="Images per class of the set.")
    p.add_argument("--model", default="ConvNet", help="Evaluation network.")
    p.add_argument("--augment", default="dsa", choices=AUGMENTS, help="auto: the recipe.")
    p.add_argument("--epochs", type=int, default=300, help="The release's E (epochs 0..E).")
    p.add_argument("--num-models", type=int, default=3, help="Networks trained.")
    p.add_argument("--method", default="dm", help="Method the set is labelled with (recipe).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads.")
    p.add_argument("--rounds", type=int, default=1, help="Reference and ours, in turn.")
    p.add_argument("--no-isolate", action="store_true", help="Measure in this process.")
    p.add_argument("--output", default=None, help="JSON (default results/evaluation_<dev>.json).")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-output", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a line, write the JSON and return it."""
    args = build_parser().parse_args(argv)
    if args.worker:  # a subprocess measuring one job
        result = run_job(Job(**json.loads(args.worker)), isolate=False)
        Path(args.worker_output).write_text(json.dumps(result))
        return result
    if min(args.rounds, args.num_models, args.ipc) < 1 or args.epochs < 0:
        raise SystemExit("--rounds, --num-models and --ipc must be 1 or more; --epochs 0 or more.")
    device = resolve_device(args.device)
    job = Job(
        "ours", args.dataset_shape, args.ipc, args.model, args.augment, args.epochs,
        args.num_models, args.method, args.seed, str(device), args.data_root, args.threads,
    )  # fmt: skip
    rounds = []  # (reference, ours), taken in turn so that drift hits both alike
    for _ in range(args.rounds):
        ref = run_job(dataclasses.replace(job, kind="reference"), not args.no_isolate)
        rounds.append((ref, run_job(job, not args.no_isolate)))
    ratios = [ref["seconds"] / ours["seconds"] for ref, ours in rounds]
    ref, ours = rounds[ratios.index(statistics.median_low(ratios))]
    result = {
        "dataset_shape": args.dataset_shape,
        "model": args.model,
        "ipc": args.ipc,
        "num_models": args.num_models,
        "recipe": ours["recipe"],
        "set_images": ours["set_images"],
        "ours": ours,
        "reference": ref,
        "ratio": ref["seconds"] / ours["seconds"],
        "ratio_without_probe": ref["seconds"] / ours["train_seconds"],
        "round_ratios": ratios,
    }
    document = {
        "kind": "evaluation_speed",
        "environment": environment(device),
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
        "isolated": not args.no_isolate,
        "command": command_line("evaluation_speed", argv),
        "result": result,
    }
    out = Path(args.output or REPO / "results" / f"evaluation_speed_{device.type}.json")
    write_json(document, out)
    path = ours["path"]
    print(
        f"evaluation {args.dataset_shape} {args.model} ipc {args.ipc} x{args.num_models} "
        f"({result['recipe']['augment']}, E={result['recipe']['epochs']}): ours "
        f"{ours['seconds']:.2f} s (probe {ours['probe_seconds']:.2f} s; compile="
        f"{path['compile']}, channels_last={path['channels_last']}, ensemble={path['ensemble']}) "
        f" reference {ref['seconds']:.2f} s  ratio {result['ratio']:.2f} "
        f"({result['ratio_without_probe']:.2f} without the probe)"
        + (f"  rounds {', '.join(f'{x:.2f}' for x in ratios)}" if len(ratios) > 1 else ""),
        flush=True,
    )
    print(f"Results: {out}")
    return document


if __name__ == "__main__":
    main()
