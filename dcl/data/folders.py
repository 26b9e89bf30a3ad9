"""Readers for image trees on disk: ``root/{train,test}/<class>/...`` and Tiny ImageNet's layout.

Both return ``(images, labels, class_names)`` with images ``(N, C, H, W)`` uint8 and labels ``(N,)``
int64, like every reader in ``dcl.data.registry``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from dcl.data.convert import pil_to_uint8, stack_images


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset's files are missing and downloading was not requested."""


class ImageFolderError(ValueError):
    """Raised when an image tree exists but cannot be read as one dataset."""


def missing_error(name: str, root: Path, looked_for: str) -> DatasetNotFoundError:
    """The error for absent dataset files: where we looked and how to provide them."""
    return DatasetNotFoundError(
        f"{name} not found: looked for {looked_for} under '{root}'. Pass --data.download true to "
        "download it there, or point --data.root (or the DCL_DATA_ROOT environment variable) at "
        "a folder that already holds it."
    )


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the (non-hidden) class folders in ``folder``.

    Kept instead of torchvision's ``find_classes``, which makes every folder a class: a
    ``.ipynb_checkpoints`` or ``.git`` folder beside the class folders would become one.
    """
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_paths(folder: Path, classes: Sequence[str]) -> tuple[list[str], list[int]]:
    """Image files of ``folder/<class>/**`` and their labels (the class's position in ``classes``).

    torchvision's ``make_dataset`` walks the tree (sorted, symlinks followed; files with
    ``ImageFolder``'s suffixes, in any case); hidden files and folders are skipped on top, since
    macOS archives carry ``._name.png`` companions that are no images. A class without images
    is allowed (a test split may hold a subset of the classes). Files come in label order, so
    the images need no sorting afterwards.
    """

    def visible_image(path: str) -> bool:
        hidden = any(part.startswith(".") for part in Path(path).relative_to(folder).parts)
        return not hidden and path.lower().endswith(IMG_EXTENSIONS)

    found = []
    for label, cls in enumerate(classes):  # one class at a time: label order, not name order
        found += make_dataset(folder, {cls: label}, is_valid_file=visible_image, allow_empty=True)
    return [path for path, _ in found], [label for _, label in found]


def decode_images(
    paths: Sequence[Path | str], rgb: bool = False, image_size: int | None = None
) -> Tensor:
    """Decode image files into one ``(N, C, H, W)`` uint8 tensor.

    Args:
        paths: Image files, in the order wanted.
        rgb: Always return 3 channels. Otherwise ``C`` is 1 when every image is grayscale and 3 when
            any is in colour (grayscale ones are then replicated, as Pillow's ``convert("RGB")``).
        image_size: Resize the shorter side of every image to this (antialiased), then centre-crop
            a square of this side. ``None``: the images must all have one square size.

    Raises:
        ImageFolderError: An image is unreadable, or sizes differ (or are not square) without
            ``image_size``.
    """
    from PIL import Image, UnidentifiedImageError

    def read(i: int) -> Tensor:
        try:
            with Image.open(paths[i]) as img:
                return pil_to_uint8(img)
        except (OSError, UnidentifiedImageError) as err:
            raise ImageFolderError(
                f"Cannot read image '{paths[i]}': {err}. Remove or fix it."
            ) from err

    return stack_images(
        len(paths), read, image_size, lambda i: f"'{paths[i]}'", rgb, ImageFolderError
    )


def read_classes(
    folder: Path, classes: Sequence[str], rgb: bool = False, image_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """Images of ``folder/<class>/**`` for each class, labelled by its position in ``classes``."""
    paths, labels = image_paths(folder, classes)
    if not paths:
        raise missing_error(folder.name, folder, "image files (.png, .jpg, ...) in class folders")
    return decode_images(paths, rgb, image_size), torch.tensor(labels, dtype=torch.int64)


def read_imagefolder(
    root: Path, train: bool, download: bool, image_size: int | None = None
) -> tuple[Tensor, Tensor, tuple]:
    """Read ``root/{train,test}/<class>/<images>`` (class order = sorted train folder names).

    ``image_size`` resizes and centre-crops every image to a square of that side (see
    ``decode_images``); without it the images must already share one square size.
    """
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
    images, labels = read_classes(split, classes, image_size=image_size)
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
        for folder, dirs, files in os.walk(top, followlinks=True):  # as make_dataset
            dirs.sort()
            rel = os.path.relpath(folder, root)
            summary.append([rel, len(dirs) + len(files), os.stat(folder).st_mtime_ns])
    return summary
