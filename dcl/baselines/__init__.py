"""Coreset baselines: random, herding, k-center and forgetting selections of real images.

Each builds a ``SyntheticSet`` of ``ipc`` real training images per class (normalised, in class
order, method recorded in the metadata) that is evaluated like any condensed set.

Feature extractor: herding and k-center select in the feature space of ``net.embed`` (the
flattened features before the final Linear layer) of a ConvNet trained with cross-entropy on the
full real training set (``train_feature_extractor``: SGD lr 0.01, momentum 0.9, weight decay 5e-4,
batch 256, lr x0.1 after half the epochs), or of one loaded from a file written by
``save_extractor``. Forgetting counts forgetting events during that same training run. The
description of the extractor used is stored in ``SyntheticSet.config["feature_extractor"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dcl.baselines.features import (
    embed_all,
    load_extractor,
    save_extractor,
    train_feature_extractor,
)
from dcl.baselines.selection import (
    forgetting_scores,
    herding,
    k_center_greedy,
    most_forgotten,
    random_indices,
)
from dcl.data.images import ClassImages
from dcl.data.synthetic import SyntheticSet
from dcl.methods.hints import PLAIN
from dcl.seeding import REAL, generator, step_seed

BASELINES: tuple[str, ...] = ("random", "herding", "kcenter", "forgetting")

_SELECTION = {
    "random": "uniformly random distinct images per class",
    "herding": "Welling's greedy herding per class: each pick brings the running mean of the "
    "selected features closest to the class mean (no repeats)",
    "kcenter": "greedy k-center per class: first centre nearest the class mean, then repeatedly "
    "the image farthest from its nearest centre",
    "forgetting": "the most forgotten images per class (Toneva et al. forgetting events; never "
    "learned {}; ties broken at random)",
}
# Where forgetting ranks images its extractor never classified correctly (``never_learned``).
_NEVER_LEARNED = {"first": "counts as most forgotten", "last": "ranks last"}


def canonical_method(method: str) -> str:
    """``method`` as one of ``BASELINES`` (accepts k-center / k_center / kcenter, any case).

    Raises:
        ValueError: For an unknown method, listing the known ones.
    """
    key = method.lower().replace("-", "").replace("_", "")
    if key not in BASELINES:
        raise ValueError(f"Unknown baseline '{method}'. Known baselines: {', '.join(BASELINES)}.")
    return key


def _extractor(
    method: str,
    train: ClassImages,
    *,
    seed: int,
    path: str | Path | None,
    epochs: int,
    backbone: str,
    device: torch.device | str,
    verbose: bool,
) -> tuple[nn.Module, Tensor | None, dict[str, Any]]:
    """The trained (or loaded) network, its forgetting record if any, and config describing it."""
    space = f"{backbone}.embed (flattened features before the classifier)"
    if path is not None:
        net, meta = load_extractor(path, train, backbone=backbone, device=device)
        epochs, record = meta["epochs"], meta["forgetting"]
        origin = f"loaded from '{path}' ({meta['dataset']}, {epochs} epochs, seed {meta['seed']})"
        if method == "forgetting" and record is None:
            raise ValueError(
                f"Feature extractor '{path}' holds no forgetting record: train it with "
                "track_forgetting=True and pass forgetting= to save_extractor, or omit the path."
            )
    else:
        net, record = train_feature_extractor(
            train,
            backbone=backbone,
            epochs=epochs,
            seed=seed,
            device=device,
            track_forgetting=method == "forgetting",
            verbose=verbose,
        )
        origin = (
            f"trained on the full {train.info.name} training set ({epochs} epochs, SGD lr 0.01, "
            f"momentum 0.9, weight decay 5e-4, batch 256, seed {seed})"
        )
    if record is not None and record.shape[1] != len(train):
        raise ValueError(
            f"Forgetting record covers {record.shape[1]} images, the training set has {len(train)}."
        )
    what = (
        f"forgetting events counted while training {backbone}" if method == "forgetting" else space
    )
    config = {
        "feature_extractor": f"{what}, {origin}",
        "extractor_epochs": int(epochs),
        "extractor_path": None if path is None else str(path),
    }
    return net, record, config


def per_class_indices(train: ClassImages, ipc: int, pick: Any) -> Tensor:
    """``(C, ipc)`` global indices, ``pick(c, start, stop)`` choosing within class ``c``'s rows.

    ``pick`` returns ``ipc`` indices into the class's own rows ``train[start:stop]``.
    """
    rows = []
    for c in range(train.info.num_classes):
        start = int(train.offsets[c])
        rows.append(pick(c, start, start + int(train.counts[c])).cpu() + start)
    return torch.stack(rows)


def select_indices(
    method: str,
    train: ClassImages,
    ipc: int,
    *,
    seed: int = 0,
    extractor_path: str | Path | None = None,
    extractor_epochs: int = 10,
    backbone: str = "ConvNet",
    device: torch.device | str = "cpu",
    verbose: bool = False,
    never_learned: str = "first",
) -> tuple[Tensor, dict[str, Any]]:
    """Indices of the images a baseline selects, and the config describing how.

    Args: as ``select_baseline``.

    Returns:
        ``(C, ipc)`` int64 CPU indices into ``train`` (row ``c`` lies in class ``c``, in
        selection order) and a config dict (``selection``, ``feature_extractor``,
        ``extractor_epochs``, ``extractor_path``).
    """
    method = canonical_method(method)
    if ipc < 1:
        raise ValueError(f"ipc must be >= 1, got {ipc}.")
    train.check_per_class(ipc)
    config: dict[str, Any] = {"selection": _SELECTION[method]}
    if method == "random":
        indices = random_indices(train.counts.cpu(), ipc, generator(seed))
        config.update(feature_extractor="none", extractor_epochs=None, extractor_path=None)
        return indices, config
    net, record, described = _extractor(
        method,
        train,
        seed=seed,
        path=extractor_path,
        epochs=extractor_epochs,
        backbone=backbone,
        device=device,
        verbose=verbose,
    )
    config.update(described)
    if method == "forgetting":
        scores = forgetting_scores(record, never_learned)
        config["never_learned"] = never_learned
        config["selection"] = config["selection"].format(_NEVER_LEARNED[never_learned])
        ties = generator(step_seed(seed, 0, 1, REAL))
        indices = per_class_indices(
            train, ipc, lambda c, a, b: most_forgotten(scores[a:b], ipc, ties)
        )
    else:
        feats = embed_all(net, train)
        rule = herding if method == "herding" else k_center_greedy
        indices = per_class_indices(train, ipc, lambda c, a, b: rule(feats[a:b], ipc))
    return indices, config


def baseline_set(
    train: ClassImages,
    indices: Tensor,
    method: str,
    seed: int,
    backbone: str,
    config: dict[str, Any],
) -> SyntheticSet:
    """The real images at ``indices`` (``(C, ipc)``, as ``select_indices`` returns) as a set.

    Normalised float32 images in class order, ``ipc`` labels per class, the baseline's metadata
    and the plain evaluation hints of a selection of real images.
    """
    ipc = indices.shape[1]
    flat = indices.flatten().to(train.device)
    images = train.normalize(train.images[flat]).float().cpu()
    labels = torch.arange(train.info.num_classes).repeat_interleave(ipc)
    return SyntheticSet(
        images=images,
        labels=labels,
        info=train.info,
        ipc=ipc,
        method=method,
        seed=seed,
        backbone=backbone,
        config=config,
        evaluation=PLAIN.to_dict(),  # a selection of real images: no augmentation, 300 epochs
    )


def select_baseline(
    method: str,
    train: ClassImages,
    ipc: int,
    *,
    seed: int = 0,
    extractor_path: str | Path | None = None,
    extractor_epochs: int = 10,
    backbone: str = "ConvNet",
    device: torch.device | str = "cpu",
    verbose: bool = False,
    never_learned: str = "first",
) -> SyntheticSet:
    """A set of ``ipc`` real training images per class chosen by a coreset baseline.

    Args:
        method: One of ``BASELINES`` ("k-center" and "k_center" are accepted too).
        train: Real training images (not modified).
        ipc: Images per class.
        seed: Seeds the random draw, the extractor's training and forgetting's tie-breaking.
        extractor_path: Load the feature extractor from this file (written by
            ``save_extractor``) instead of training one; ignored by "random".
        extractor_epochs: Training epochs of the extractor when none is loaded.
        backbone: Extractor network (recorded as the set's ``backbone``).
        device: Where the extractor trains and embeds.
        verbose: Show the extractor's training progress.
        never_learned: Forgetting only: where images the extractor never classified correctly
            rank, ``"first"`` (Toneva et al.: infinitely forgotten) or ``"last"``
            (``forgetting_scores``).

    Returns:
        The set: normalised float32 images in class order, ``ipc`` labels per class, metadata
        ``method`` (canonical name), ``ipc``, ``seed``, ``backbone`` and ``config`` (including
        ``feature_extractor``, a description of the extractor used, and ``extractor_epochs``).

    Raises:
        ValueError: For an unknown method, or ``ipc`` larger than some class.
    """
    indices, config = select_indices(
        method,
        train,
        ipc,
        seed=seed,
        extractor_path=extractor_path,
        extractor_epochs=extractor_epochs,
        backbone=backbone,
        device=device,
        verbose=verbose,
        never_learned=never_learned,
    )
    return baseline_set(train, indices, canonical_method(method), seed, backbone, config)


def random_real_set(train: ClassImages, ipc: int, seed: int = 0) -> SyntheticSet:
    """``ipc`` uniformly random distinct real images per class, reproducible from ``seed``."""
    return select_baseline("random", train, ipc, seed=seed)


__all__ = [
    "BASELINES",
    "baseline_set",
    "canonical_method",
    "embed_all",
    "forgetting_scores",
    "herding",
    "k_center_greedy",
    "load_extractor",
    "most_forgotten",
    "per_class_indices",
    "random_indices",
    "random_real_set",
    "save_extractor",
    "select_baseline",
    "select_indices",
    "train_feature_extractor",
]
