"""Materialise each dataset split once as a compact uint8 tensor file; later loads read that."""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
import zlib
from pathlib import Path

import torch
from torch import Tensor

from dcl.data.folders import tree_fingerprint
from dcl.data.registry import READERS, STATIC_INFO, DatasetInfo, check_image_size, check_name

CACHE_FORMAT = "dcl-split-v2"


def default_cache_dir() -> Path:
    """``$DCL_CACHE_DIR`` if set, else ``~/.cache/dcl`` (dataset roots may be read-only)."""
    return Path(os.environ.get("DCL_CACHE_DIR", Path.home() / ".cache" / "dcl"))


DATA_ROOT_VARIABLE = "DCL_DATA_ROOT"


def default_data_root() -> Path:
    """``$DCL_DATA_ROOT`` if set and not empty, else ``data`` (relative to the working folder).

    The folder datasets are read from when no root is given: ``--data.root`` (and a config
    without ``data.root``), ``--data_root`` and ``--root`` left unset, or ``root=None`` in
    Python. One variable then points every command at a machine's datasets; an explicit root
    always wins.
    """
    return Path(os.environ.get(DATA_ROOT_VARIABLE) or "data")


def resolve_data_root(root: str | Path | None) -> Path:
    """``root`` as a path, or ``default_data_root()`` when it is ``None``."""
    return default_data_root() if root is None else Path(root)


def save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never half a file.

    If writing fails, the temporary file is removed and an existing ``path`` is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def checksum(images: Tensor, labels: Tensor) -> int:
    """CRC-32 of the pixel and label bytes (tens of milliseconds for CIFAR-10's 150 MB)."""
    crc = zlib.crc32(images.contiguous().numpy())
    return zlib.crc32(labels.contiguous().numpy(), crc)


def _problem(entry: object, key: dict) -> str | None:
    """Why a loaded cache entry must not be served, or ``None`` when it is sound."""
    if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT:
        return f"it is not a '{CACHE_FORMAT}' file"
    old = entry.get("key") if isinstance(entry.get("key"), dict) else {}
    if differ := [k for k in key if old.get(k) != key[k]]:
        shown = {k: old.get(k) for k in differ if k != "source"}
        return f"it was written for another {'/'.join(differ)} {shown or '(the files changed)'}"
    images, labels, names = entry.get("images"), entry.get("labels"), entry.get("class_names")
    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        return "images or labels are missing"
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[0] == 0:
        return f"images are {images.dtype} {tuple(images.shape)}, expected uint8 (N, C, H, W)"
    if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
        return f"labels are {labels.dtype} {tuple(labels.shape)}, expected int64 ({len(images)},)"
    static = STATIC_INFO[key["name"]]
    if static.channels and tuple(images.shape[1:]) != (static.channels, *[static.image_size] * 2):
        return f"images are {tuple(images.shape[1:])}, {static.name} has another shape"
    if int(labels.min()) < 0 or (names and int(labels.max()) >= len(names)):
        return "labels are out of range"
    if key["split"] == "train" and len(entry.get("mean", ())) != images.shape[1]:
        return "the train statistics are missing"
    if entry.get("checksum") != checksum(images, labels):
        return "its checksum does not match its contents"
    return None


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images in [0, 1] units.

    Counts a 256-bin histogram per channel, so memory stays small and the result is exact up to
    float64 rounding however many images there are.
    """
    hist = torch.zeros(images.shape[1], 256, dtype=torch.float64)
    for chunk in images.split(4096):
        for c in range(images.shape[1]):
            hist[c] += torch.bincount(chunk[:, c].reshape(-1), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255.0
    count = hist.sum(1)
    mean = (hist * values).sum(1) / count
    var = (hist * (values - mean[:, None]) ** 2).sum(1) / count
    return tuple(mean.tolist()), tuple(var.sqrt().tolist())


def load_split(
    name: str,
    root: str | Path | None,
    train: bool,
    download: bool = False,
    cache_dir: str | Path | None = None,
    image_size: int | None = None,
) -> dict:
    """Load one split as ``{"images": uint8 (N,C,H,W), "labels": int64 (N,), "class_names", ...}``.

    The first call reads the source (torchvision files, an image folder, scikit-learn) and writes a
    cache file; later calls read only that file. A cache that is unreadable or does not match the
    request is rebuilt with a warning, never served. ``image_size`` (image folders only) resizes
    and centre-crops every image to that square side; each size has its own cache file. A
    ``root`` of ``None`` reads ``default_data_root()`` (``$DCL_DATA_ROOT``, else ``data``).
    """
    name = check_name(name)
    check_image_size(name, image_size)
    root = resolve_data_root(root).expanduser().resolve()
    split = "train" if train else "test"
    bundled = name == "digits"  # no files: the root plays no part
    key = {
        "name": name,
        "root": "" if bundled else str(root),
        "split": split,
        "source": tree_fingerprint(name, root),
        "image_size": image_size,  # absent from older files: read as None, the native size
    }
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tag = "bundled" if bundled else hashlib.sha1(str(root).encode()).hexdigest()[:10]
    size = "" if image_size is None else f"-{image_size}px"
    path = cache_root / f"{name}-{tag}{size}-{split}.pt"
    if path.is_file():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            problem = _problem(entry, key)
        except Exception as err:  # noqa: BLE001 - any unreadable cache is rebuilt
            problem = f"it is unreadable ({type(err).__name__}: {err})"
        if problem is None:
            return entry
        warnings.warn(f"Rebuilding cache file '{path}': {problem}.", stacklevel=2)
    resize = {} if image_size is None else {"image_size": image_size}
    images, labels, class_names = READERS[name](root, train, download, **resize)
    entry = {
        "format": CACHE_FORMAT,
        "key": key,
        "images": images,
        "labels": labels,
        "class_names": list(class_names),
        "checksum": checksum(images, labels),
    }
    if train:
        entry["mean"], entry["stats_std"] = channel_stats(images)
    try:
        save_atomic(entry, path)
    except OSError as err:
        warnings.warn(f"Could not write cache file '{path}' ({err}); set cache_dir.", stacklevel=2)
    return entry


def dataset_info(name: str, train_entry: dict) -> DatasetInfo:
    """Full ``DatasetInfo``: published statistics where they exist, measured ones otherwise."""
    static = STATIC_INFO[check_name(name)]
    images = train_entry["images"]
    names = tuple(train_entry["class_names"]) or static.class_names
    num_classes = int(train_entry["labels"].max()) + 1
    if not names:
        names = tuple(str(i) for i in range(num_classes))
    mean, std = static.mean, static.std
    if not mean:
        mean, std = tuple(train_entry["mean"]), tuple(train_entry["stats_std"])
    return DatasetInfo(
        name=static.name,
        channels=int(images.shape[1]),
        image_size=int(images.shape[-1]),
        num_classes=max(num_classes, len(names)),
        class_names=names,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
    )
