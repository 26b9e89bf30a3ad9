"""Readers for image trees on disk: ``root/{train,test}/<class>/...`` and Tiny ImageNet's layout.

Both return ``(images, labels, class_names)`` with images ``(N, C, H, W)`` uint8 and labels ``(N,)``
int64, like every reader in ``dcl.data.registry``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

# Same suffixes as torchvision's ImageFolder; anything else (.DS_Store, *_boxes.txt) is skipped.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# Pillow modes that hold one intensity per pixel.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset's files are missing and downloading was not requested."""


class ImageFolderError(ValueError):
    """Raised when an image tree exists but cannot be read as one dataset."""


def missing_error(name: str, root: Path, looked_for: str) -> DatasetNotFoundError:
    """The error for absent dataset files: where we looked and how to provide them."""
    return DatasetNotFoundError(
        f"{name} not found: looked for {looked_for} under '{root}'. Pass --data.download true to "
        f"download it there, or point --data.root at a folder that already holds it."
    )


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted, hidden entries and non-images skipped)."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(top, f)
            for f in files
            if not f.startswith(".") and f.lower().endswith(IMG_EXTENSIONS)
        ]
    return sorted(found)


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the (non-hidden) class folders in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def decode_images(paths: Sequence[Path], rgb: bool = False) -> Tensor:
    """Decode equally sized images into one ``(N, C, H, W)`` uint8 tensor.

    Args:
        paths: Image files, in the order wanted.
        rgb: Always return 3 channels. Otherwise ``C`` is 1 when every image is grayscale and 3 when
            any is in colour (grayscale ones are then replicated, as Pillow's ``convert("RGB")``).

    Raises:
        ImageFolderError: An image is unreadable or its size differs from the first image's.
    """
    from PIL import Image, UnidentifiedImageError

    out: np.ndarray | None = None
    all_gray = True
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                gray = img.mode in GRAY_MODES
                array = np.asarray(img.convert("L" if gray else "RGB"))
        except (OSError, UnidentifiedImageError) as err:
            raise ImageFolderError(f"Cannot read image '{path}': {err}. Remove or fix it.") from err
        if out is None:
            out = np.empty((len(paths), *array.shape[:2], 3), dtype=np.uint8)
        if array.shape[:2] != out.shape[1:3]:
            raise ImageFolderError(
                f"Images must all have one size: '{paths[0]}' is {out.shape[1]}x{out.shape[2]} "
                f"but '{path}' is {array.shape[0]}x{array.shape[1]} (HxW). Resize them first."
            )
        out[i] = array[..., None] if gray else array
        all_gray &= gray
    if out is None:
        raise ImageFolderError("No images to decode.")
    if all_gray and not rgb:
        out = out[..., :1]
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def read_classes(folder: Path, classes: Sequence[str], rgb: bool = False) -> tuple[Tensor, Tensor]:
    """Images of ``folder/<class>/**`` for each class, labelled by its position in ``classes``."""
    paths, labels = [], []
    for label, cls in enumerate(classes):
        files = image_files(folder / cls)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise missing_error(folder.name, folder, "image files (.png, .jpg, ...) in class folders")
    return decode_images(paths, rgb), torch.tensor(labels, dtype=torch.int64)


def read_imagefolder(root: Path, train: bool, download: bool) -> tuple[Tensor, Tensor, tuple]:
    """Read ``root/{train,test}/<class>/<images>`` (class order = sorted train folder names)."""
    where = "the folders 'train/<class>/<images>' and 'test/<class>/<images>'"
    split = root / ("train" if train else "test")
    if not (root / "train").is_dir() or not split.is_dir():
        raise missing_error("imagefolder", root, where)
    classes = class_folders(root / "train")
    if not classes:
        raise missing_error("imagefolder", root, where)
    if not train and (extra := sorted(set(class_folders(split)) - set(classes))):
        raise ImageFolderError(
            f"'{split}' has class folders {extra} that '{root / 'train'}' lacks; the test classes "
            "must be a subset of the train classes (labels come from the sorted train folders)."
        )
    images, labels = read_classes(split, classes)
    return images, labels, tuple(classes)


def tinyimagenet_base(root: Path) -> Path:
    """``root/tiny-imagenet-200`` when present, else ``root`` itself."""
    return root / "tiny-imagenet-200" if (root / "tiny-imagenet-200").is_dir() else root


def read_tinyimagenet(root: Path, train: bool, download: bool) -> tuple[Tensor, Tensor, tuple]:
    """Read the standard ``tiny-imagenet-200`` layout; its labelled val split is the test set."""
    base = tinyimagenet_base(root)
    annotations = base / "val" / "val_annotations.txt"
    if not (base / "wnids.txt").is_file() or not (train or annotations.is_file()):
        raise missing_error(
            "tinyimagenet",
            root,
            "tiny-imagenet-200/{wnids.txt, train/<wnid>/images/, val/val_annotations.txt} "
            "(Stanford's layout, from http://cs231n.stanford.edu/tiny-imagenet-200.zip)",
        )
    wnids = (base / "wnids.txt").read_text().split()
    if train:
        images, labels = read_classes(base / "train", wnids, rgb=True)
        return images, labels, tuple(wnids)
    rows = [line.split("\t") for line in annotations.read_text().splitlines() if line.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    if unknown := sorted({row[1] for row in rows} - set(index)):
        raise ImageFolderError(f"'{annotations}' names classes not in wnids.txt: {unknown[:5]}")
    images = decode_images([base / "val" / "images" / row[0] for row in rows], rgb=True)
    labels = torch.tensor([index[row[1]] for row in rows], dtype=torch.int64)
    return images, labels, tuple(wnids)


def tree_fingerprint(name: str, root: Path) -> list:
    """Cheap summary of an image tree (entries and mtime of every folder) to invalidate caches.

    Adding, removing or renaming a file anywhere in the tree changes it; overwriting a file in
    place under the same name does not (delete the cache file after such edits).
    """
    if name == "tinyimagenet":
        base = tinyimagenet_base(root)
        tops = [base / "train", base / "val", base / "wnids.txt"]
    elif name == "imagefolder":
        tops = [root / "train", root / "test"]
    else:
        return []
    summary: list = []
    for top in tops:
        if top.is_file():
            stat = top.stat()
            summary.append([top.name, stat.st_size, stat.st_mtime_ns])
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            rel = os.path.relpath(folder, root)
            summary.append([rel, len(dirs) + len(files), os.stat(folder).st_mtime_ns])
    return summary
