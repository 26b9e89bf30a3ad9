"""What a set costs to store: bytes of its images and labels, and the images per class they buy.

Recent leaderboards let sets carry soft labels, which cost storage too (DD-Ranking, arXiv
2505.13300, makes the same point): a fair comparison counts them beside the images.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dcl.data.synthetic import SyntheticSet

# Hard labels as ``SyntheticSet.save`` writes them: int64, 8 bytes each.
HARD_LABEL_DTYPE = torch.int64
# A set's images as ``SyntheticSet.save`` writes them.
IMAGE_DTYPE = torch.float32


def dtype_bytes(dtype: torch.dtype) -> int:
    """Bytes of one element of ``dtype``."""
    return torch.empty((), dtype=dtype).element_size()


def storage_bytes(syn: SyntheticSet, soft_labels: Tensor | None = None) -> dict[str, Any]:
    """Bytes of ``syn``'s images and labels as stored, and its images-per-class equivalent.

    Images count as saved, float32 (``N * C * H * W * 4``); hard labels as saved, int64
    (``N * 8``; they could be left out, being implied by the layout, but the file holds them);
    soft labels as ``N * K * `` their dtype's size. ``ipc_equivalent`` is
    ``(image bytes + label bytes) / (K * bytes of one float32 image)``: the images per class the
    same bytes would buy without labels, so a hard-label set sits just above its ``ipc`` and
    soft labels add ``N * K * size / (K * C * H * W * 4)``. ``ipc_equivalent_uint8`` divides by
    a uint8 image instead (``C * H * W`` bytes, how real datasets store pixels).

    Args:
        syn: The set.
        soft_labels: Soft labels it trains with when not its own (a teacher's), else ``None``:
            ``syn.soft_labels`` when it has them.

    Returns:
        ``{"image_bytes", "image_dtype", "hard_label_bytes", "hard_label_dtype",
        "soft_label_bytes", "soft_label_dtype", "label_bytes", "total_bytes",
        "ipc_equivalent", "ipc_equivalent_uint8"}`` (soft-label entries 0 and ``None``
        without soft labels).
    """
    n, classes = len(syn.labels), syn.num_classes
    pixels = syn.info.channels * syn.info.image_size**2
    soft = syn.soft_labels if soft_labels is None else soft_labels
    images = n * pixels * dtype_bytes(IMAGE_DTYPE)
    hard = n * dtype_bytes(HARD_LABEL_DTYPE)
    soft_bytes = 0 if soft is None else soft.numel() * soft.element_size()
    total = images + hard + soft_bytes
    return {
        "image_bytes": images,
        "image_dtype": str(IMAGE_DTYPE).removeprefix("torch."),
        "hard_label_bytes": hard,
        "hard_label_dtype": str(HARD_LABEL_DTYPE).removeprefix("torch."),
        "soft_label_bytes": soft_bytes,
        "soft_label_dtype": None if soft is None else str(soft.dtype).removeprefix("torch."),
        "label_bytes": hard + soft_bytes,
        "total_bytes": total,
        "ipc_equivalent": total / (classes * pixels * dtype_bytes(IMAGE_DTYPE)),
        "ipc_equivalent_uint8": total / (classes * pixels),
    }
