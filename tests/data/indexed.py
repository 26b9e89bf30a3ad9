"""Data whose images say their own index, to check by index which images a consumer saw."""

from __future__ import annotations

import torch
from torch import Tensor

from dcl.data import DatasetInfo, RealDataModule

K, PER_CLASS = 4, 24


def indexed_images(n: int, k: int = K) -> tuple[Tensor, Tensor]:
    """``n`` uint8 8x8 images sorted by class: pixels (0, 0) and (0, 1) hold the index.

    The other pixels are a class-dependent shade with noise, so the classes are learnable.
    """
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) * k // n
    images = labels.view(-1, 1, 1, 1) * 50 + torch.randint(0, 40, (n, 1, 8, 8), generator=g)
    images = images.to(torch.uint8)
    index = torch.arange(n)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = (index % 256).to(torch.uint8), index // 256
    return images, labels


def indexed_module(**kwargs) -> RealDataModule:
    """A ``from_tensors`` module over ``K * PER_CLASS`` indexed train images (set up)."""
    images, labels = indexed_images(K * PER_CLASS)
    test = indexed_images(K * 4)
    data = RealDataModule.from_tensors(images, labels, test=test, name="indexed", **kwargs)
    data.setup()
    return data


def indices(normalized: Tensor, info: DatasetInfo) -> set[int]:
    """The indices written in normalised images ``(..., 1, 8, 8)``."""
    x = normalized.reshape(-1, 1, 8, 8).detach().cpu().double()
    pixels = ((x * info.std[0] + info.mean[0]) * 255).round().long()
    return set((pixels[:, 0, 0, 0] + 256 * pixels[:, 0, 0, 1]).tolist())


def uint8_indices(images: Tensor) -> set[int]:
    """The indices written in uint8 images ``(N, 1, 8, 8)``."""
    pixels = images.long()
    return set((pixels[:, 0, 0, 0] + 256 * pixels[:, 0, 0, 1]).tolist())
