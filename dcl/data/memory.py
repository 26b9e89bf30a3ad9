"""Splits given in memory (tensors, torchvision-style datasets), checked and stored as the cache is.

Each split becomes the same entry a registry dataset's cache holds (``dcl.data.cache``): uint8
``(N, C, H, W)`` images, int64 labels, class names and, for the train split, the per-channel
statistics. ``RealDataModule.from_tensors`` and ``from_datasets`` build on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision.transforms import v2

from dcl.data.cache import channel_stats
from dcl.data.convert import item_to_uint8, stack_images
from dcl.data.registry import DatasetInfo


def as_uint8_images(images: Any, what: str) -> Tensor:
    """``(N, C, H, W)`` uint8 on the CPU from uint8 ``[0, 255]`` or float ``[0, 1]`` images.

    Raises:
        TypeError: Not a tensor, or neither uint8 nor floating point.
        ValueError: Wrong shape or channels, not square, empty, or floats outside [0, 1].
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(images).__name__}.")
    shape = tuple(images.shape)
    if images.ndim == 3:
        raise ValueError(
            f"{what} have shape {shape}; expected (N, C, H, W). For grayscale images add the "
            "channel dimension: images.unsqueeze(1)."
        )
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"{what} have shape {shape}; expected (N, C, H, W) with N > 0.")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        raise ValueError(
            f"{what} have shape {shape}, which looks channels-last (N, H, W, C); pass "
            "images.permute(0, 3, 1, 2)."
        )
    if images.shape[1] not in (1, 3):
        raise ValueError(
            f"{what} have {shape[1]} channels (shape {shape}); use 1 (gray) or 3 (RGB) channels."
        )
    if images.shape[2] != images.shape[3]:
        raise ValueError(
            f"{what} are {shape[2]}x{shape[3]} (HxW) but must be square: crop or resize them, e.g. "
            "torchvision.transforms.v2.functional.center_crop, or use from_datasets(image_size=N)."
        )
    if images.is_floating_point():
        lo, hi = float(images.min()), float(images.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
            raise ValueError(
                f"{what} are floats in [{lo:.4g}, {hi:.4g}]; expected [0, 1]. Pass raw pixels "
                "(uint8 in [0, 255], or floats divided by 255), not normalised ones: dcl "
                "normalises with the dataset's mean and std itself."
            )
    elif images.dtype != torch.uint8:
        raise TypeError(
            f"{what} are {images.dtype}; pass uint8 in [0, 255] (images.to(torch.uint8)) or "
            "floats in [0, 1]."
        )
    images = v2.functional.to_dtype(images.detach().cpu(), torch.uint8, scale=True)
    return images.contiguous()


def as_labels(labels: Any, count: int, num_classes: int | None, what: str) -> Tensor:
    """``(N,)`` int64 labels on the CPU, checked against ``count`` images and ``num_classes``.

    Raises:
        TypeError: Not an integer tensor.
        ValueError: Wrong length, or labels outside ``[0, num_classes)``.
    """
    if not isinstance(labels, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(labels).__name__}.")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{what} are {labels.dtype}; pass integer class indices (labels.long()).")
    if tuple(labels.shape) != (count,):
        raise ValueError(
            f"{what} have shape {tuple(labels.shape)}; expected ({count},), one per image."
        )
    labels = labels.detach().cpu().long()
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        bound = "" if num_classes is None else f" with {num_classes} classes"
        raise ValueError(
            f"{what} run from {lo} to {hi}; classes must be numbered 0..K-1{bound}. Map them to "
            "0..K-1 first (e.g. torch.unique(labels, return_inverse=True)[1])."
        )
    return labels


def _channel_values(values: Sequence[float], channels: int, what: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) != channels:
        raise ValueError(f"{what} has {len(values)} values; the images have {channels} channels.")
    return values


def memory_splits(
    images: Tensor,
    labels: Tensor,
    test: tuple[Tensor, Tensor],
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[dict, dict]:
    """Check a train and a test split and return them as cache-like entries ``(train, test)``.

    Args:
        images: Train images ``(N, C, H, W)``, uint8 in [0, 255] or float in [0, 1].
        labels: Train labels ``(N,)``, integers 0..K-1.
        test: ``(test_images, test_labels)`` alike, with the train images' shape and classes.
        class_names: One per class (K = their number); default ``"0".."K-1"``, K = max label + 1.
        mean: Per-channel mean in [0, 1] units; measured on the train images when ``None``.
        std: Per-channel std in [0, 1] units; measured on the train images when ``None``.

    Raises:
        TypeError: Wrong types.
        ValueError: Wrong shapes, values or classes; the message says how to fix them.
    """
    if not isinstance(test, (tuple, list)) or len(test) != 2:
        raise TypeError("test must be a pair (test_images, test_labels).")
    train_images = as_uint8_images(images, "images")
    k = None if class_names is None else len(class_names)
    train_labels = as_labels(labels, len(train_images), k, "labels")
    k = k if k is not None else int(train_labels.max()) + 1
    names = [str(c) for c in range(k)] if class_names is None else [str(c) for c in class_names]
    if empty := (torch.bincount(train_labels, minlength=k) == 0).nonzero().flatten().tolist():
        raise ValueError(
            f"Classes {empty[:10]} have no training images; every class 0..{k - 1} needs some "
            "(renumber the labels, or give class_names only for the classes present)."
        )
    test_images = as_uint8_images(test[0], "test images")
    if test_images.shape[1:] != train_images.shape[1:]:
        raise ValueError(
            f"test images are {tuple(test_images.shape[1:])} (C, H, W) but the train images "
            f"are {tuple(train_images.shape[1:])}; both splits need one shape."
        )
    test_labels = as_labels(test[1], len(test_images), k, "test labels")
    measured = channel_stats(train_images)
    c = train_images.shape[1]
    mean = measured[0] if mean is None else _channel_values(mean, c, "mean")
    std = measured[1] if std is None else _channel_values(std, c, "std")
    if min(std) <= 0:
        raise ValueError(f"std must be positive in every channel, got {std}.")
    order = torch.argsort(train_labels, stable=True)  # stored by class, as the registry's
    train_images, train_labels = train_images[order], train_labels[order]
    train = {"images": train_images, "labels": train_labels, "class_names": names}
    train.update(mean=tuple(mean), stats_std=tuple(std))
    return train, {"images": test_images, "labels": test_labels, "class_names": names}


def memory_info(name: str, train: dict) -> DatasetInfo:
    """The ``DatasetInfo`` of an in-memory train entry (``memory_splits``)."""
    images = train["images"]
    return DatasetInfo(
        name=name,
        channels=int(images.shape[1]),
        image_size=int(images.shape[-1]),
        num_classes=len(train["class_names"]),
        class_names=tuple(train["class_names"]),
        mean=tuple(float(m) for m in train["mean"]),
        std=tuple(float(s) for s in train["stats_std"]),
    )


def decode_dataset(
    dataset: Any, image_size: int | None, what: str, rgb: bool = False
) -> tuple[Tensor, Tensor]:
    """Every item ``(image, label)`` of a map-style dataset as ``(uint8 images, int64 labels)``.

    Images may be Pillow images, ``(C, H, W)`` uint8 or float [0, 1] tensors, or ``(H, W, C)``
    arrays; they are converted with torchvision's ``ToImage`` and ``ToDtype`` and, with
    ``image_size``, resized (shorter side, antialiased) and centre-cropped to that square.

    Raises:
        TypeError: The dataset has no length, or an item is not ``(image, int label)``.
        ValueError: Images of differing or non-square sizes without ``image_size``.
    """
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"{what} must be a map-style Dataset (with __len__ and __getitem__).")
    if len(dataset) == 0:
        raise ValueError(f"{what} is empty; it needs images of every class.")
    labels: list[int] = []

    def read(i: int) -> Tensor:
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"{what}[{i}] is not a pair (image, label); got {type(item).__name__}.")
        try:
            labels.append(int(item[1]))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{what}[{i}] has label {item[1]!r}; expected an int.") from err
        return item_to_uint8(item[0], f"{what}[{i}]'s image")

    images = stack_images(len(dataset), read, image_size, lambda i: f"{what}[{i}]", rgb)
    return images, torch.tensor(labels, dtype=torch.int64)
