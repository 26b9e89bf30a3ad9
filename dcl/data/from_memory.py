"""``RealDataModule.from_tensors`` and ``from_datasets``: a data module over your own data.

The images are decoded once into compact uint8 tensors and then behave as a registered
dataset's: class-balanced sampling, the same test DataLoader, validation split and pickling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from torch import Tensor
from torch.utils.data import Dataset

from dcl.data.memory import decode_dataset, memory_splits


class FromMemory:
    """The constructors of ``RealDataModule`` that take data in memory instead of a name."""

    @classmethod
    def from_tensors(
        cls,
        images: Tensor,
        labels: Tensor,
        *,
        test: tuple[Tensor, Tensor],
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        name: str = "tensors",
        seed: int | None = None,
        steps_per_epoch: int = 100,
        test_batch_size: int = 1024,
        num_workers: int = 0,
        val_size: int | float | None = 0,
        val_seed: int | None = None,
    ) -> Self:
        """A data module over your own tensors, behaving as a registered dataset's.

        The images are kept as compact uint8 ``ClassImages`` (the train split on the trainer's
        device after ``setup``), sampled class-balanced by ``real_batch`` and served by the
        same test DataLoader. The module pickles (DDP spawn) with its data.

        Args:
            images: Train images ``(N, C, H, W)`` (C 1 or 3, H = W), uint8 in [0, 255] or float
                in [0, 1] (stored as uint8: float pixels are quantised to 256 levels), sorted by
                class (a copy when not given sorted).
            labels: Train labels ``(N,)``, integers 0..K-1; every class needs train images.
            test: ``(test_images, test_labels)`` of the same image shape and classes.
            mean: Per-channel mean in [0, 1] units; ``None``: measured on the train images.
            std: Per-channel std in [0, 1] units; ``None``: measured on the train images.
            class_names: One name per class (K = their number); default ``"0"`` to ``"K-1"``.
            name: ``info.name``, recorded in synthetic sets. A registered name (``"mnist"``)
                selects that dataset's DSA strategy and lets ``evaluate.py`` reload it by
                name: use one only for that very dataset. Others get the default strategy.
            seed: As ``RealDataModule``.
            steps_per_epoch: As ``RealDataModule``.
            test_batch_size: As ``RealDataModule``.
            num_workers: As ``RealDataModule``.
            val_size: As ``RealDataModule``.
            val_seed: As ``RealDataModule``.

        Raises:
            TypeError: Inputs of the wrong type or dtype.
            ValueError: Wrong shapes, pixel ranges, labels or statistics.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string, got {name!r}.")
        train, test_split = memory_splits(images, labels, test, class_names, mean, std)
        data = cls(
            seed=seed,
            steps_per_epoch=steps_per_epoch,
            test_batch_size=test_batch_size,
            num_workers=num_workers,
            val_size=val_size,
            val_seed=val_seed,
        )
        data.dataset, data._splits = name, {"train": train, "test": test_split}
        return data

    @classmethod
    def from_datasets(
        cls,
        train: Dataset,
        test: Dataset,
        *,
        image_size: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        name: str = "dataset",
        seed: int | None = None,
        steps_per_epoch: int = 100,
        test_batch_size: int = 1024,
        num_workers: int = 0,
        val_size: int | float | None = 0,
        val_seed: int | None = None,
    ) -> Self:
        """A data module over torchvision-style datasets, decoded once into uint8 tensors.

        Every item ``(image, label)`` is read once: Pillow images, ``(C, H, W)`` tensors (uint8,
        or float in [0, 1]: no ``Normalize`` in the transform) or ``(H, W, C)`` arrays, converted
        with torchvision's ``ToImage`` and ``ToDtype``. Grayscale images become RGB when any
        image of either split is in colour. Then as ``from_tensors``.

        Args:
            train: Map-style dataset of ``(image, int label)`` items, labels 0..K-1.
            test: The test split, alike.
            image_size: Resize the shorter side of every image to this (antialiased) and
                centre-crop a square of this side; needed when sizes differ or are not square.
            mean: Per-channel mean in [0, 1] units; ``None``: measured on the train images.
            std: Per-channel std in [0, 1] units; ``None``: measured on the train images.
            class_names: One name per class; default the train dataset's ``classes``
                attribute when it has one, else ``"0"`` to ``"K-1"``.
            name: ``info.name`` (see ``from_tensors``).
            seed: As ``RealDataModule``.
            steps_per_epoch: As ``RealDataModule``.
            test_batch_size: As ``RealDataModule``.
            num_workers: As ``RealDataModule``.
            val_size: As ``RealDataModule``.
            val_seed: As ``RealDataModule``.

        Raises:
            TypeError: Items that are not ``(image, int label)``.
            ValueError: Differing or non-square image sizes without ``image_size``, and
                everything ``from_tensors`` rejects.
        """
        if image_size is not None and (isinstance(image_size, bool) or image_size < 1):
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}.")
        train_images, train_labels = decode_dataset(train, image_size, "train")
        test_images, test_labels = decode_dataset(test, image_size, "test")
        if train_images.shape[1] != test_images.shape[1]:  # one split gray, the other colour
            train_images, test_images = (
                x.expand(-1, 3, -1, -1) for x in (train_images, test_images)
            )
        if class_names is None and getattr(train, "classes", None):
            class_names = list(train.classes)
        return cls.from_tensors(
            train_images,
            train_labels,
            test=(test_images, test_labels),
            mean=mean,
            std=std,
            class_names=class_names,
            name=name,
            seed=seed,
            steps_per_epoch=steps_per_epoch,
            test_batch_size=test_batch_size,
            num_workers=num_workers,
            val_size=val_size,
            val_seed=val_seed,
        )
