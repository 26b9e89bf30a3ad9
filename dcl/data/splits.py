"""Real splits as ``ClassImages``, plain or ZCA-whitened (every image they serve is whitened)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from dcl.data.cache import dataset_info, load_split
from dcl.data.images import ClassImages
from dcl.data.zca import DEFAULT_EPS, ZCA, cached_zca, fit_zca, whiten_pixels

if TYPE_CHECKING:
    from dcl.data.synthetic import SyntheticSet


def load_real(
    dataset: str,
    root: str | Path | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
    image_size: int | None = None,
) -> tuple[ClassImages, ClassImages]:
    """Load train and test splits of a registered dataset as ``ClassImages`` on the CPU.

    ``root`` ``None`` reads ``default_data_root()``: ``$DCL_DATA_ROOT``, else ``data``.
    """
    train = load_split(dataset, root, True, download, cache_dir, image_size)
    test = load_split(dataset, root, False, download, cache_dir, image_size)
    info = dataset_info(dataset, train)
    return (
        ClassImages(train["images"], train["labels"], info),
        ClassImages(test["images"], test["labels"], info),
    )


class WhitenedImages(ClassImages):
    """``ClassImages`` whose ``normalize`` (so ``sample`` too) serves ZCA-whitened pixels.

    uint8 images ``x`` become ``whiten(x / 255)``: MTT's whitening of ``ToTensor`` pixels.
    Built by ``whitened``; ``to`` moves the fit with the images, and ``normalize`` of a batch
    on another device uses a copy of the fit there (kept, so it is copied once).

    Attributes:
        zca: The fit, on the images' device.
    """

    zca: ZCA

    def to(self, device: torch.device | str) -> WhitenedImages:
        """Move images, bookkeeping and the fit to ``device`` (in place); returns self."""
        super().to(device)
        self.zca, self._copies = self.zca.to(device), {}
        return self

    def fit_on(self, device: torch.device) -> ZCA:
        """The fit on ``device`` (a kept copy when the images live elsewhere)."""
        if device == self.zca.device:
            return self.zca
        if device not in self._copies:
            self._copies[device] = self.zca.to(device)
        return self._copies[device]

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 ``(..., C, H, W)`` -> float32 whitened ``(..., C, H, W)``."""
        return whiten_pixels(x, self.fit_on(x.device))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_copies"] = {}  # device copies stay with their process
        return state


def whitened(images: ClassImages, zca: ZCA) -> WhitenedImages:
    """``images`` (shared, not copied) serving whitened pixels through ``zca``."""
    if images.images[0].numel() != zca.dim:
        shape = tuple(images.images.shape[1:])
        raise ValueError(f"A ZCA fit of {zca.dim} values cannot whiten {shape} images.")
    out = WhitenedImages.__new__(WhitenedImages)
    out.__dict__.update(images.__dict__)
    out.zca, out._copies = zca.to(images.device), {}
    return out


def whiten_splits(
    train: ClassImages,
    test: ClassImages,
    eps: float = DEFAULT_EPS,
    cache_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    cache: bool = True,
    expect: int | None = None,
) -> tuple[WhitenedImages, WhitenedImages, ZCA]:
    """Fit ZCA on ``train`` (cached, ``cached_zca``) and whiten both splits with it.

    Args:
        train: The training split (uint8); the fit is of its pixels in [0, 1].
        test: The test split, whitened with the train fit.
        eps: ZCA regularisation (0.1 in MTT).
        cache_dir: Cache folder of the fit (default ``$DCL_CACHE_DIR`` or ``~/.cache/dcl``).
        device: Where the fit is computed (default: the train images' device); the splits
            keep their own devices.
        cache: Read and write the fit in the cache (off: fit in memory).
        expect: The checksum the fit must have (a set's ``zca["checksum"]``).

    Returns:
        ``(train, test, fit)``.

    Raises:
        ValueError: ``expect`` given and the train split is other data than the fit's.
    """
    if cache:
        zca = cached_zca(train.images, eps, train.info.name, cache_dir, device)
    else:
        zca = fit_zca(train.images, eps, device=device)
    if expect is not None and zca.checksum != expect:
        raise ValueError(
            f"The set was made from images whitened with a ZCA fit of training images of "
            f"checksum {expect:08x}, but the {train.info.name} training split found has checksum "
            f"{zca.checksum:08x}: point --data_root (and --cache_dir) at the data the set was "
            "made from."
        )
    return whitened(train, zca), whitened(test, zca), zca


class WhitenBatch:
    """``collate_fn`` of the test DataLoader with ZCA on: uint8 items -> whitened batches.

    Args:
        zca: The fit (its device is where the batches are whitened).
    """

    def __init__(self, zca: ZCA) -> None:
        self.zca = zca

    def __call__(self, items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """``(whitened (B, C, H, W) float32, labels (B,))``."""
        images = torch.stack([image for image, _ in items])
        labels = torch.stack([label for _, label in items])
        return whiten_pixels(images.to(self.zca.device), self.zca).cpu(), labels


def adopt_whitening(syn: SyntheticSet, images: ClassImages) -> SyntheticSet:
    """Mark a set chosen from ``images`` (a baseline) as whitened when ``images`` are."""
    zca = getattr(images, "zca", None)
    if zca is None or syn.zca is not None:
        return syn
    syn.zca, syn.whitening = zca.metadata(), zca.to("cpu")
    return syn


def check_whitening(syn: SyntheticSet, test: ClassImages) -> None:
    """Raise ``ValueError`` unless ``test`` is whitened exactly as the images of ``syn`` were."""
    fit, want = getattr(test, "zca", None), syn.zca
    if fit is None and want is None:
        return
    if want is None:
        raise ValueError(
            "The set is not ZCA-whitened but the test images are (a data module with zca on): "
            "evaluate it on plain test images."
        )
    if fit is None:
        raise ValueError(
            f"The set was made from ZCA-whitened images (eps {want['eps']}) but the test images "
            "are plain: whiten them with the same fit (RealDataModule(zca=True, "
            f"zca_eps={want['eps']}) or dcl.data.splits.whiten_splits); evaluate.py does it."
        )
    if fit.checksum != want["checksum"] or fit.eps != want["eps"]:
        raise ValueError(
            f"The set was whitened with a ZCA fit (eps {want['eps']}, training images of checksum "
            f"{want['checksum']:08x}) other than the test images' (eps {fit.eps}, checksum "
            f"{fit.checksum:08x})."
        )
