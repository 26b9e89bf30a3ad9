"""The ceiling every table shows: ConvNets trained on the whole training split, tested on real.

Usage::

    python -m benchmarks.whole_set mnist --epochs 20 [--seeds 3] [--data-root DIR]
    python -m benchmarks.whole_set imagefolder --data-root CIFAR10_JPEG --epochs 100 --tag cifar10

Each network trains through the library's one loop exactly as a teacher or feature extractor
does (``dcl.baselines.train_feature_extractor``): the evaluation protocol's optimiser (SGD lr
0.01, momentum 0.9, weight decay 5e-4, batch 256, lr x0.1 after half the epochs), shuffled
minibatches, no augmentation. The published whole-set figures (MNIST 99.6 %, CIFAR-10 84.8 %)
do not state their epochs; the JSON records ours. Writes ``results/whole_set/<name>.json``:
per-seed test accuracy, mean and std, seconds, device and CPU model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import command_line, environment, resolve_device
from benchmarks.summary import WHOLE_SET
from dcl import tuning
from dcl.baselines import train_feature_extractor
from dcl.data import load_real
from dcl.evaluation.report import write_json
from dcl.evaluation.summary import summarize
from dcl.evaluation.teacher import accuracy_of


def train_and_test(train: Any, test: Any, epochs: int, seed: int, device: torch.device) -> float:
    """Test accuracy (%) of one ConvNet trained ``epochs`` on the whole of ``train``."""
    net, _ = train_feature_extractor(
        train, epochs=epochs, seed=seed, device=device, verbose=True, purpose="whole-set network"
    )
    return accuracy_of(net, test.to(device))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train ``--seeds`` networks, write and return the JSON document."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.whole_set", description=__doc__)
    p.add_argument("dataset", help="Registered dataset name, or imagefolder with --data-root.")
    p.add_argument("--data-root", default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--tag", default=None, help="Result name (default: the dataset's).")
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    train, test = load_real(args.dataset, args.data_root, cache_dir=args.cache_dir)
    name = args.tag or args.dataset
    accuracies, seconds = [], []
    for seed in range(args.seeds):
        start = time.perf_counter()
        accuracies.append(train_and_test(train, test, args.epochs, seed, device))
        seconds.append(time.perf_counter() - start)
        print(f"{name} seed {seed}: {accuracies[-1]:.2f} % in {seconds[-1]:.0f} s", flush=True)
    document = {
        "kind": "whole_set",
        "dataset": name,
        "published": WHOLE_SET.get(name),  # the papers' whole-set figures
        "epochs": args.epochs,
        "optimiser": "SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 256, lr x0.1 at E/2",
        "accuracies": accuracies,
        "summary": summarize(accuracies),
        "seconds": seconds,
        "command": command_line("whole_set", argv),
        "environment": environment(device),
        "cpu_model": tuning.cpu_model(),
    }
    out = Path(args.output or f"results/whole_set/{name}_{device.type}.json")
    write_json(document, out)
    print(f"Results: {out}")
    return document


if __name__ == "__main__":
    main()
