r"""Forgetting sets under both rankings of never-learned images, from one extractor's record.

Usage::

    python -m benchmarks.forgetting_rules --dataset imagefolder --data-root CIFAR10_JPEG \
        --extractor extractor.pt --ipc 10 [--rules first last] [--num-models 5] [--no-evaluate]

The forgetting baseline ranks images by the forgetting events counted while its feature
extractor trained (``dcl.baselines.features``). Images the extractor never classified correctly
rank first under Toneva et al.'s rule (``never_learned="first"``, the default) or last
(``"last"``). After a short recording run many images are never learned, and the rule decides
the whole set. This writes, per rule, the set (``forgetting_<rule>_ipc<N>.pt``) and what its
images scored, and the record's statistics (epochs, never-learned fraction, last-epoch training
accuracy, score histogram); unless ``--no-evaluate``, it evaluates each set with
``evaluate.py`` (same protocol, same models) into ``forgetting_<rule>_ipc<N>.json``. The summary
goes to ``--out-dir``/``forgetting_rules_<dataset>_ipc<N>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import command_line, environment, save_and_evaluate
from dcl import tuning
from dcl.baselines import baseline_set, select_indices
from dcl.baselines.selection import forgetting_scores
from dcl.data import load_real
from dcl.evaluation.report import write_json


def record_statistics(record: torch.Tensor) -> dict[str, Any]:
    """What the correctness record says about how far the recording run got."""
    scores = forgetting_scores(record)
    never = ~record.any(0)
    return {
        "epochs": record.shape[0],
        "examples": record.shape[1],
        "never_learned": int(never.sum()),
        "never_learned_fraction": float(never.float().mean()),
        "train_accuracy_per_epoch": [round(float(a), 4) for a in record.float().mean(1)],
        "score_histogram": torch.bincount(scores).tolist(),  # last bin: never learned
    }


def chosen_scores(record: torch.Tensor, indices: torch.Tensor, rule: str) -> dict[str, int]:
    """How many chosen images had each forgetting score (-1 or ``epochs``: never learned)."""
    scores = forgetting_scores(record, rule)[indices]
    values, counts = scores.unique(return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build (and evaluate) one forgetting set per rule; write the summary JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.forgetting_rules", description=__doc__)
    p.add_argument("--dataset", default="imagefolder")
    p.add_argument("--data-root", required=True)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--extractor", required=True, help="File of save_extractor with a record.")
    p.add_argument("--ipc", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rules", nargs="+", default=["first", "last"], choices=["first", "last"])
    p.add_argument("--num-models", type=int, default=5)
    p.add_argument("--no-evaluate", action="store_true")
    p.add_argument("--out-dir", default="results/published/forgetting_rules")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, _ = load_real(args.dataset, args.data_root, download=False, cache_dir=args.cache_dir)
    record = torch.load(args.extractor, map_location="cpu", weights_only=True)["forgetting"]
    rules = {}
    for rule in args.rules:
        indices, config = select_indices(
            "forgetting", train, args.ipc, seed=args.seed, extractor_path=args.extractor,
            never_learned=rule,
        )  # fmt: skip
        syn = baseline_set(train, indices, "forgetting", args.seed, "ConvNet", config)
        stem = out / f"forgetting_{rule}_ipc{args.ipc}"
        entry = save_and_evaluate(syn, stem.with_suffix(".pt"), stem.with_suffix(".json"), args)
        entry["chosen_scores"] = chosen_scores(record, indices.flatten(), rule)
        rules[rule] = entry
    document = {
        "kind": "forgetting_rules",
        "command": command_line("forgetting_rules", argv),
        "environment": environment(torch.device("cpu")),
        "cpu_model": tuning.cpu_model(),
        "record": record_statistics(record),
        "rules": rules,
    }
    write_json(document, out / f"forgetting_rules_{args.dataset}_ipc{args.ipc}.json")
    return document


if __name__ == "__main__":
    main()
