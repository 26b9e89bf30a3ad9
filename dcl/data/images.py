"""Real images stored compactly (uint8, sorted by class) with batched class-balanced sampling."""

from __future__ import annotations

import torch
from torch import Tensor

from dcl.data.registry import DatasetInfo


class ClassImages:
    """A split's uint8 images sorted by label, normalised on the fly on their device.

    Args:
        images: ``(N, C, H, W)`` uint8 images.
        labels: ``(N,)`` integer labels in ``[0, info.num_classes)``.
        info: The dataset's facts (mean and std drive normalisation).
    """

    def __init__(self, images: Tensor, labels: Tensor, info: DatasetInfo) -> None:
        labels = labels.long()
        if labels.numel() > 1 and not bool((labels[1:] >= labels[:-1]).all()):
            order = torch.argsort(labels, stable=True)  # image folders come sorted: no copy
            images, labels = images.index_select(0, order), labels[order]
        self.images, self.labels = images, labels
        self.info = info
        self.counts = torch.bincount(self.labels, minlength=info.num_classes)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        self._host_counts = self.counts.clone()  # stays on the CPU: checks need no sync
        mean = torch.tensor(info.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(info.std, dtype=torch.float32).view(1, -1, 1, 1)
        # (x / 255 - mean) / std as one multiply-add.
        self._scale, self._shift = 1.0 / (255.0 * std), mean / std

    @property
    def device(self) -> torch.device:
        """Where the images live."""
        return self.images.device

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> ClassImages:
        """Move images and bookkeeping to ``device`` (in place); returns self."""
        for name in ("images", "labels", "counts", "offsets", "_scale", "_shift"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 ``(..., C, H, W)`` -> float32 in normalised space."""
        shape = x.shape
        x = x.reshape(-1, *shape[-3:]).float() * self._scale - self._shift
        return x.reshape(shape)

    def class_indices(self, c: int) -> Tensor:
        """Global indices of the images of class ``c``."""
        start = int(self.offsets[c])
        return torch.arange(start, start + int(self.counts[c]), device=self.device)

    def check_per_class(
        self, n: int, what: str = "images per class", classes: Tensor | None = None
    ) -> None:
        """Raise a clear ``ValueError`` if a class of ``classes`` (default all) has under ``n``."""
        if n < 1:
            raise ValueError(f"{n} {what} requested; ask for at least 1.")
        k = len(self._host_counts)
        ids = torch.arange(k) if classes is None else torch.as_tensor(classes).cpu().reshape(-1)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= k):
            raise ValueError(
                f"Classes {ids.tolist()} out of range: {self.info.name} has {k} classes "
                f"(0 to {k - 1})."
            )
        counts = self._host_counts[ids]
        smallest = int(counts.min()) if counts.numel() else n
        if n > smallest:
            c = int(ids[counts.argmin()])
            name = self.info.class_names[c] if c < len(self.info.class_names) else str(c)
            raise ValueError(
                f"{n} {what} requested, but class {c} ('{name}') of {self.info.name} has only "
                f"{smallest} images. Ask for at most {smallest}."
            )

    def sample_indices(
        self, n: int, generator: torch.Generator, classes: Tensor | None = None
    ) -> Tensor:
        """``(K, n)`` global indices: ``n`` distinct images of each of ``classes`` (default all).

        One batched draw: random keys for every class (so a class's draw does not depend on
        which other classes are asked for), slots past a class's end masked, top-n per row.
        """
        self.check_per_class(n, classes=classes)
        width = int(self.counts.max())
        keys = torch.rand(len(self.counts), width, generator=generator, device=generator.device)
        keys = keys.to(self.device)
        slots = torch.arange(width, device=self.device)
        keys = keys.masked_fill(slots >= self.counts[:, None], -1.0)
        offsets = self.offsets
        if classes is not None:
            keys, offsets = keys[classes], offsets[classes]
        picks = keys.topk(n, dim=1).indices  # (K, n) positions within each class
        return offsets[:, None] + picks

    def sample(self, n: int, generator: torch.Generator, classes: Tensor | None = None) -> Tensor:
        """``(K, n, C, H, W)`` normalised float images, ``n`` distinct ones per class."""
        return self.normalize(self.images[self.sample_indices(n, generator, classes)])
