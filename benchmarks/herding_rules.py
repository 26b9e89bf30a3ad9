r"""Herding sets under two greedy rules, in one extractor's features: a diagnosis.

Usage::

    python -m benchmarks.herding_rules --dataset imagefolder --data-root CIFAR10_JPEG \
        --extractor extractor.pt --ipc 10 [--rules nearest farthest] [--num-models 5] \
        [--no-evaluate]

Herding picks, at step ``t``, a point for the running sum of picks ``S``. The point that would
make the running mean equal the class mean is ``t * mean - S``. Welling's rule, the library's
``dcl.baselines.herding``, takes the candidate *nearest* to it (``nearest``). Some coreset code
takes the *farthest* (an argmax of the same distance; DeepCore's ``herding.py`` reads that way),
which starts from the point farthest from the class mean. This builds both from one extractor,
records how much they share and how far their picks lie from the class mean, and, unless
``--no-evaluate``, evaluates each with ``evaluate.py`` into ``herding_<rule>_ipc<N>.json``. The
summary goes to ``--out-dir``/``herding_rules_<dataset>_ipc<N>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.common import command_line, environment, save_and_evaluate
from dcl import tuning
from dcl.baselines import baseline_set, embed_all, herding, load_extractor, per_class_indices
from dcl.data import load_real
from dcl.evaluation.report import write_json


def farthest_herding(features: Tensor, k: int) -> Tensor:
    """Herding with the argmax: at step ``t`` the candidate farthest from ``t * mean - S``.

    Args:
        features: ``(n, D)`` features of one class.
        k: Points to select.

    Returns:
        ``(k,)`` int64 indices into ``features`` in selection order.
    """
    x = features.detach().flatten(1).double()
    mean, total = x.mean(0), torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    taken = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    picks = []
    for t in range(1, k + 1):
        dist = (t * mean - total - x).pow(2).sum(1).masked_fill(taken, -1.0)
        i = int(dist.argmax())
        picks.append(i)
        taken[i] = True
        total = total + x[i]
    return torch.tensor(picks, dtype=torch.long, device=features.device)


RULES = {"nearest": herding, "farthest": farthest_herding}


def select(train: Any, feats: Tensor, ipc: int, rule: str) -> Tensor:
    """``(C, ipc)`` global indices chosen by ``rule`` within each class."""
    return per_class_indices(train, ipc, lambda c, a, b: RULES[rule](feats[a:b], ipc))


def distance_to_mean(train: Any, feats: Tensor, indices: Tensor) -> float:
    """Mean over the picks of their Euclidean distance to their class's mean feature."""
    out = []
    for c, row in enumerate(indices):
        start = int(train.offsets[c])
        mean = feats[start : start + int(train.counts[c])].double().mean(0)
        out.append((feats[row.to(feats.device)].double() - mean).norm(dim=1))
    return float(torch.cat(out).mean())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build (and evaluate) one herding set per rule; write the summary JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.herding_rules", description=__doc__)
    p.add_argument("--dataset", default="imagefolder")
    p.add_argument("--data-root", required=True)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--extractor", required=True, help="A file of save_extractor (or a teacher).")
    p.add_argument("--ipc", type=int, required=True)
    p.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    p.add_argument("--num-models", type=int, default=5)
    p.add_argument("--no-evaluate", action="store_true")
    p.add_argument("--out-dir", default="results/published/herding_rules")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, _ = load_real(args.dataset, args.data_root, download=False, cache_dir=args.cache_dir)
    net, meta = load_extractor(args.extractor, train)
    feats = embed_all(net, train)
    config = {"feature_extractor": f"loaded from '{args.extractor}' ({meta['epochs']} epochs)"}
    rules, chosen = {}, {}
    for rule in args.rules:
        chosen[rule] = select(train, feats, args.ipc, rule)
        syn = baseline_set(
            train,
            chosen[rule],
            "herding",
            0,
            "ConvNet",
            {**config, "selection": f"herding, {rule}"},
        )
        stem = out / f"herding_{rule}_ipc{args.ipc}"
        entry = save_and_evaluate(syn, stem.with_suffix(".pt"), stem.with_suffix(".json"), args)
        entry["distance_to_class_mean"] = distance_to_mean(train, feats, chosen[rule])
        rules[rule] = entry
    sets = [set(v.flatten().tolist()) for v in chosen.values()]
    document = {
        "kind": "herding_rules",
        "command": command_line("herding_rules", argv),
        "environment": environment(torch.device("cpu")),
        "cpu_model": tuning.cpu_model(),
        "extractor_epochs": meta["epochs"],
        "shared_images": len(set.intersection(*sets)) if len(sets) > 1 else None,
        "rules": rules,
    }
    write_json(document, out / f"herding_rules_{args.dataset}_ipc{args.ipc}.json")
    return document


if __name__ == "__main__":
    main()
