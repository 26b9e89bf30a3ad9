"""``evaluate.py --protocol ddranking``: DD-Ranking's LRS and ARS measured by this protocol.

What DD-Ranking measures (``dcl.evaluation.ddranking`` has the formulas and the source), with
this library's networks, training loop and recipe: per architecture and model ``i``,

- ``syn_hard``: the set with its hard labels, no augmentation (the package's default
  ``use_aug_for_hard=False``);
- ``syn_soft_aug`` / ``syn_soft_plain``: the set with its soft labels (its own, or the teacher's),
  with and without augmentation;
- ``random_soft_aug`` / ``random_soft_plain``: a random real subset of the same ipc, drawn anew
  for each model (seed ``seed + i``) as the package draws one per evaluation round, relabelled
  by the teacher, trained the same two ways;
- ``real_hard``: a network trained on the whole training split with hard labels (the cached
  teacher-style network of that architecture), tested once.

Scores are computed per model and then summarised, as the package averages its rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dcl.baselines import select_baseline
from dcl.data.images import ClassImages
from dcl.data.splits import adopt_whitening
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.ddranking import augmentation_robust_score, label_robust_score
from dcl.evaluation.labels import LabelPlan
from dcl.evaluation.protocol import run_protocol
from dcl.evaluation.summary import summarize
from dcl.evaluation.teacher import accuracy_of, find_teacher

Results = dict[str, list[float]]
ACCURACIES = ("syn_hard", "syn_soft_aug", "syn_soft_plain", "random_soft_aug", "random_soft_plain")


def random_subset(train: ClassImages, ipc: int, seed: int) -> SyntheticSet:
    """A class-balanced random real subset of ``ipc`` images per class (whitened like ``train``)."""
    return adopt_whitening(select_baseline("random", train, ipc, seed=seed), train)


def measure(
    syn: SyntheticSet,
    train: ClassImages,
    test: ClassImages,
    models: list[str],
    labels: LabelPlan,
    protocol: dict[str, Any],
    join: Callable[[Results], Results],
    *,
    augment: str,
    teacher_epochs: int,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Every accuracy DD-Ranking's LRS and ARS need, per architecture (in %).

    Args:
        syn: The set.
        train: The full training split (random subsets, full-data networks).
        test: The test split.
        models: Evaluation architectures.
        labels: The soft-label plan; its teacher relabels the random subsets.
        protocol: ``run_protocol`` options shared by every run (``num_models``, ``seed``,
            ``shard``, ``paths``, ``lr``, ``like``, ``epochs``, ``device``, ``temperature``, ...).
        join: Joins the ranks' shares (``gather_results``), or returns them.
        augment: The "with augmentation" mode (a mode of ``AUGMENTS`` but ``none``).
        teacher_epochs: Epochs of a full-data network trained anew.
        cache_dir: Where full-data networks are cached.

    Returns:
        ``{ARCH: {"syn_hard": [...], ..., "random_soft_plain": [...], "real_hard": float}}``.
    """
    if labels.soft_labels is None or labels.teacher is None:
        raise ValueError("--protocol ddranking needs soft labels and a teacher (--teacher).")
    num, seed, device = protocol["num_models"], protocol["seed"], protocol["device"]
    rank, world = protocol["shard"]
    soft = labels.soft_labels

    def run(target: SyntheticSet, mode: str, soft_labels: Any, **change: Any) -> Results:
        options = {**protocol, **change, "augment": mode, "soft_labels": soft_labels}
        return run_protocol(target, test, models, **options)

    found = {
        "syn_hard": join(run(syn, "none", None)),
        "syn_soft_aug": join(run(syn, augment, soft)),
        "syn_soft_plain": join(run(syn, "none", soft)),
    }
    random_aug: Results = {m: [math.nan] * num for m in models}
    random_plain: Results = {m: [math.nan] * num for m in models}
    for i in range(num):
        if i % world != rank:  # another rank trains model i
            continue
        subset = random_subset(train, syn.ipc, seed + i)
        relabelled = labels.soft_for(subset)
        one = dict(num_models=1, seed=seed + i, shard=(0, 1))
        for store, mode in ((random_aug, augment), (random_plain, "none")):
            for m, accs in run(subset, mode, relabelled, **one).items():
                store[m][i] = accs[0]
    found["random_soft_aug"], found["random_soft_plain"] = join(random_aug), join(random_plain)
    out: dict[str, Any] = {m: {k: found[k][m] for k in ACCURACIES} for m in models}
    for m in models:
        net, _ = find_teacher(
            train, m, seed=seed, epochs=teacher_epochs, cache_dir=cache_dir, device=device
        )
        out[m]["real_hard"] = accuracy_of(net, test)
    return out


def scores(accuracies: dict[str, Any], weight: float = 0.5) -> dict[str, dict[str, Any]]:
    """Per architecture, each model's HLR, IOR, LRS, gains and ARS, summarised over models."""
    out = {}
    for arch, acc in accuracies.items():
        per_model: dict[str, list[float]] = {}
        for i in range(len(acc["syn_hard"])):
            lrs = label_robust_score(
                acc["real_hard"], acc["syn_hard"][i], acc["syn_soft_aug"][i],
                acc["random_soft_aug"][i], weight,
            )  # fmt: skip
            ars = augmentation_robust_score(
                acc["syn_soft_aug"][i], acc["random_soft_aug"][i], acc["syn_soft_plain"][i],
                acc["random_soft_plain"][i], weight,
            )  # fmt: skip
            for key, value in {**lrs, **ars}.items():
                per_model.setdefault(key, []).append(value)
        out[arch] = {key: summarize(values) for key, values in per_model.items()}
    return out


def format_scores(table: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: architecture, LRS, ARS, HLR and IOR (means over models)."""
    header = f"{'architecture':<16} {'LRS %':>8} {'ARS %':>8} {'HLR pts':>8} {'IOR pts':>8}"
    lines = [header, "-" * len(header)]
    for arch, s in table.items():
        values = (s[k]["mean"] for k in ("lrs", "ars", "hlr", "ior"))
        lines.append(f"{arch:<16} " + " ".join(f"{v:>8.2f}" for v in values))
    return "\n".join(lines)
