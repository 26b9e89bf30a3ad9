"""Dataset registry: static facts per dataset and readers that return raw uint8 tensors.

Each reader returns ``(images, labels, class_names)`` with images ``(N, C, H, W)`` uint8 and labels
``(N,)`` int64. Caching and normalisation live elsewhere (``dcl.data.cache``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dcl.data.folders import (
    DatasetNotFoundError,
    ImageFolderError,
    missing_error,
    read_imagefolder,
    read_tinyimagenet,
)

Split = tuple[Tensor, Tensor, tuple[str, ...]]
__all__ = [
    "DatasetNotFoundError",
    "ImageFolderError",
    "check_image_size",
    "check_name",
    "DatasetInfo",
    "READERS",
]


@dataclass(frozen=True)
class DatasetInfo:
    """What a network and a synthetic set need to know about a dataset.

    Args:
        name: Registry name, e.g. ``"cifar10"``.
        channels: Image channels.
        image_size: Side of the square images.
        num_classes: Number of classes.
        class_names: One name per class, in label order.
        mean: Per-channel mean of the train split in [0, 1] units.
        std: Per-channel standard deviation in [0, 1] units.
    """

    name: str
    channels: int
    image_size: int
    num_classes: int
    class_names: tuple[str, ...] = field(default=())
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())


CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(i) for i in range(10))

# Published statistics (docs/reference.md section 1); the others are measured on the train split.
STATIC_INFO: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", 1, 28, 10, DIGIT_CLASSES, (0.1307,), (0.3081,)),
    "fashionmnist": DatasetInfo("fashionmnist", 1, 28, 10, FASHION_CLASSES, (0.2861,), (0.3530,)),
    "svhn": DatasetInfo(
        "svhn", 3, 32, 10, DIGIT_CLASSES, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
    ),
    "cifar10": DatasetInfo(
        "cifar10", 3, 32, 10, CIFAR10_CLASSES, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    ),
    "cifar100": DatasetInfo(
        "cifar100", 3, 32, 100, (), (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)
    ),
    "tinyimagenet": DatasetInfo(
        "tinyimagenet", 3, 64, 200, (), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ),
    # Shapes known, statistics computed from the train split and cached.
    "digits": DatasetInfo("digits", 1, 8, 10, DIGIT_CLASSES),
    "imagefolder": DatasetInfo("imagefolder", 0, 0, 0),
}
DATASET_NAMES: tuple[str, ...] = tuple(sorted(STATIC_INFO))


def check_name(name: str) -> str:
    """Return the canonical registry name (case, spaces, ``-`` and ``_`` ignored).

    Raises:
        ValueError: The name is unknown; the message lists the known names and the closest one.
    """
    key = str(name).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in STATIC_INFO:
        close = difflib.get_close_matches(key, DATASET_NAMES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"Unknown dataset '{name}'. Known datasets: {', '.join(DATASET_NAMES)}.{hint} "
            "For your own images use 'imagefolder' with root/{train,test}/<class>/<images>."
        )
    return key


# Datasets whose images may be resized on loading (``image_size``); the others have fixed shapes.
RESIZABLE = ("imagefolder",)


def check_image_size(name: str, image_size: int | None) -> int | None:
    """Return ``image_size`` if ``name`` (a canonical registry name) can be resized to it.

    Raises:
        ValueError: A size below 1, or a dataset of fixed shape.
    """
    if image_size is None:
        return None
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer (pixels), got {image_size!r}.")
    if name not in RESIZABLE:
        raise ValueError(
            f"image_size resizes image folders only ({', '.join(RESIZABLE)}); {name} has a fixed "
            f"image size. Leave image_size unset (null) for {name}."
        )
    return image_size


# Where torchvision keeps each dataset under its root, for error messages.
TORCHVISION_FILES = {
    "MNIST": "MNIST/raw/{train,t10k}-*-ubyte",
    "FashionMNIST": "FashionMNIST/raw/{train,t10k}-*-ubyte",
    "SVHN": "train_32x32.mat and test_32x32.mat",
    "CIFAR10": "cifar-10-batches-py/",
    "CIFAR100": "cifar-100-python/",
}


def _torchvision(cls_name: str, *, split_kw: str = "train") -> Callable[[Path, bool, bool], Split]:
    """Reader for a torchvision dataset class whose ``data`` holds all images of a split."""

    def read(root: Path, train: bool, download: bool) -> Split:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        split = "train" if train else "test"
        kwargs = {"split": split} if split_kw == "split" else {"train": train}
        try:
            ds = cls(str(root), download=download, **kwargs)
        except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
            if download:
                raise DatasetNotFoundError(
                    f"{cls_name} could not be downloaded into '{root}' ({err}). Check the network "
                    f"connection, or place {TORCHVISION_FILES[cls_name]} there by hand."
                ) from err
            raise missing_error(cls_name, root, TORCHVISION_FILES[cls_name]) from err
        data = torch.as_tensor(np.asarray(ds.data))
        if data.ndim == 3:  # MNIST-like (N, H, W)
            data = data.unsqueeze(1)
        elif data.shape[-1] == 3:  # CIFAR stores (N, H, W, C); SVHN already (N, C, H, W)
            data = data.permute(0, 3, 1, 2)
        labels = getattr(ds, "targets", None)
        labels = torch.as_tensor(np.asarray(ds.labels if labels is None else labels))
        names = tuple(getattr(ds, "classes", ()) or ())
        return data.to(torch.uint8).contiguous(), labels.long(), names

    return read


def read_digits(root: Path, train: bool, download: bool) -> Split:
    """Scikit-learn's bundled 8x8 digits, split 70/30 per class with a fixed seed (no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 intensities mapped onto the 8-bit range so every dataset is uint8 in [0, 255].
    images = torch.from_numpy(np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8))
    labels = torch.from_numpy(digits.target).long()
    rng = np.random.default_rng(0)
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(digits.target == c)
        test_mask[rng.choice(idx, size=round(0.3 * len(idx)), replace=False)] = True
    keep = torch.from_numpy(~test_mask if train else test_mask)
    return images[keep].unsqueeze(1).contiguous(), labels[keep], DIGIT_CLASSES


READERS: dict[str, Callable[[Path, bool, bool], Split]] = {
    "mnist": _torchvision("MNIST"),
    "fashionmnist": _torchvision("FashionMNIST"),
    "svhn": _torchvision("SVHN", split_kw="split"),
    "cifar10": _torchvision("CIFAR10"),
    "cifar100": _torchvision("CIFAR100"),
    "tinyimagenet": read_tinyimagenet,
    "imagefolder": read_imagefolder,
    "digits": read_digits,
}
