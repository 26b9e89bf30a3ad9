"""A validation split carved from the training split: class-balanced, seeded and reproducible.

The data module keeps only the rest as its training split, so everything that reads real
training images (synthesis, coreset baselines, feature extractors, MTT's experts) never sees the
validation images; model selection reads them instead of the test set.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch
from torch import Tensor

from dcl.data.images import ClassImages
from dcl.data.splits import whitened

ValSize = int | float | None


def check_val_size(val_size: ValSize) -> None:
    """Raise ``ValueError`` unless ``val_size`` is ``None``, an int >= 0 or a float in (0, 1).

    Args:
        val_size: Images per class (int), a fraction of the training split (float), or
            ``None``/0 (0.0) for no validation split.
    """
    if val_size is None:
        return
    if isinstance(val_size, bool) or not isinstance(val_size, int | float):
        raise ValueError(f"val_size must be an int or a float, got {val_size!r}.")
    if isinstance(val_size, int) and val_size < 0:
        raise ValueError(f"val_size must be >= 0 images per class, got {val_size}.")
    if isinstance(val_size, float) and not 0.0 <= val_size < 1.0:
        raise ValueError(
            f"val_size {val_size} as a fraction of the training split must lie in [0, 1); "
            "give an int for images per class."
        )


def per_class(val_size: ValSize, counts: Tensor) -> int:
    """Validation images per class: the count, or the fraction's share of the split per class.

    A fraction takes the same number from every class (the split's size times the fraction,
    divided by the classes, rounded, at least 1), so the validation split is class-balanced.

    Args:
        val_size: As ``check_val_size``.
        counts: ``(K,)`` training images per class.

    Raises:
        ValueError: A bad ``val_size``, or one leaving a class without training images.
    """
    check_val_size(val_size)
    if not val_size:
        return 0
    total, k = int(counts.sum()), len(counts)
    n = val_size if isinstance(val_size, int) else max(1, round(val_size * total / k))
    smallest = int(counts.min())
    if n >= smallest:
        raise ValueError(
            f"val_size {val_size} takes {n} validation images per class, but the smallest class "
            f"has {smallest} training images: leave at least one for training."
        )
    return n


def split_indices(counts: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``(train, val)`` sorted global indices into a class-sorted split, ``n`` val per class.

    One generator seeded by ``seed`` draws a permutation per class in class order, so the same
    data and seed give the same split on every process and machine.
    """
    g = torch.Generator().manual_seed(seed)
    offsets = torch.cumsum(counts, 0) - counts
    picks = [
        int(offsets[c]) + torch.randperm(int(counts[c]), generator=g)[:n]
        for c in range(len(counts))
    ]
    val = torch.cat(picks).sort().values if picks else torch.zeros(0, dtype=torch.long)
    keep = torch.ones(int(counts.sum()), dtype=torch.bool)
    keep[val] = False
    return keep.nonzero().flatten(), val


def subset(images: ClassImages, index: Tensor) -> ClassImages:
    """The images at sorted ``index`` (a copy), whitened alike when ``images`` are."""
    index = index.to(images.device)
    out = ClassImages(images.images[index], images.labels[index], images.info)
    zca = getattr(images, "zca", None)
    return out if zca is None else whitened(out, zca)


def carve(
    train: ClassImages, val_size: ValSize, seed: int
) -> tuple[ClassImages, ClassImages | None, dict[str, Any] | None]:
    """Split ``train`` into ``(rest, validation, record)``; ``(train, None, None)`` when off.

    Args:
        train: The full training split (class-sorted, as ``ClassImages`` keeps it).
        val_size: Images per class or a fraction of the split (``per_class``).
        seed: Seed of the split.

    Returns:
        The training images without the validation ones, the validation images, and the
        record written into sets and ``evaluation.json``: ``val_size``, ``seed``, ``per_class``,
        ``images``, ``train_images`` and ``checksum`` (CRC-32 of the validation indices).
    """
    n = per_class(val_size, train.counts.cpu())
    if n == 0:
        return train, None, None
    keep, val = split_indices(train.counts.cpu(), n, seed)
    record = {
        "val_size": val_size,
        "seed": seed,
        "per_class": n,
        "images": len(val),
        "train_images": len(keep),
        "checksum": zlib.crc32(val.numpy().tobytes()),
    }
    return subset(train, keep), subset(train, val), record


def without_recorded(train: ClassImages, record: dict[str, Any]) -> ClassImages:
    """``train`` without the validation split a set recorded (``carve``'s record).

    Raises:
        ValueError: The split carved here is not the recorded one (other training data).
    """
    rest, _, again = carve(train, record["val_size"], int(record["seed"]))
    if again is None or again["checksum"] != record["checksum"]:
        raise ValueError(
            f"The set held out a validation split (val_size {record['val_size']}, seed "
            f"{record['seed']}, checksum {record['checksum']}) that the {train.info.name} "
            "training split found here does not give: point --data_root at the data the set "
            "was made from."
        )
    return rest
