"""Pictures of a set: normalised (or ZCA-whitened) images back to pixels, and capped grids."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from dcl.data.registry import DatasetInfo
from dcl.data.zca import ZCA, unwhiten

# A picture stays readable and small whatever the set: TinyImageNet at 50 images per class would
# otherwise be a 51602 x 12902 grid, built at every image log and checkpoint.
GRID_PER_CLASS, GRID_CLASSES, GRID_SIDE = 10, 10, 128


def denormalize(images: Tensor, info: DatasetInfo) -> Tensor:
    """Normalised ``(N, C, H, W)`` images back to [0, 1] (clipped), as float32 on the CPU."""
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    return (images.detach().float().cpu() * std + mean).clamp(0, 1)


def to_pixels(
    images: Tensor, info: DatasetInfo, zca: ZCA | None = None, whitened: bool = False
) -> Tensor:
    """``(N, C, H, W)`` images of a set as pictures in [0, 1] (clipped), float32 on the CPU.

    Args:
        images: Normalised images, or ZCA-whitened ones (``zca`` or ``whitened``).
        info: Dataset facts (mean and std for de-normalising).
        zca: The fit the images were whitened with: they are un-whitened through it.
        whitened: The images are whitened but their fit is not at hand: each image is shown
            min-max scaled (the whitened values themselves), with a warning.

    Returns:
        ``(N, C, H, W)`` in [0, 1].
    """
    if zca is not None:
        return unwhiten(images.detach().float().cpu(), zca.to("cpu")).clamp(0, 1)
    if not whitened:
        return denormalize(images, info)
    warnings.warn(
        "The set's ZCA fit is not in the cache (it is cached when its data module or "
        "evaluate.py whitens the training set): showing whitened images, min-max scaled.",
        stacklevel=3,
    )
    x = images.detach().float().cpu()
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-12)


def image_grid(
    images: Tensor,
    info: DatasetInfo,
    ipc: int,
    per_class: int = GRID_PER_CLASS,
    classes: int = GRID_CLASSES,
    scale: int | None = None,
    zca: ZCA | None = None,
    whitened: bool = False,
) -> Tensor:
    """Picture grid of the first ``per_class`` images of the first ``classes`` classes.

    Only those images are read (and copied to the CPU), so the cost is bounded whatever the set
    holds; the full set stays in ``synthetic.pt``. Images are upscaled by ``scale`` (default: the
    largest integer up to 4 that keeps a side within 128 pixels), one row per class.

    Args:
        images: ``(K * ipc, C, H, W)`` normalised (or whitened) images, class-major (any device).
        info: Dataset facts (mean and std for de-normalising).
        ipc: Images per class.
        per_class: At most this many images per class.
        classes: At most this many classes.
        scale: Integer upscaling (``None``: automatic).
        zca: The images are ZCA-whitened with this fit: shown un-whitened (``to_pixels``).
        whitened: The images are whitened, their fit unknown (``to_pixels``).

    Returns:
        ``(C, H', W')`` float image in [0, 1].
    """
    from torchvision.utils import make_grid

    k, side = images.shape[0] // ipc, images.shape[-1]
    rows, cols = min(k, classes), min(ipc, per_class)
    index = (torch.arange(rows).view(-1, 1) * ipc + torch.arange(cols)).flatten()
    chosen = to_pixels(images.detach()[index.to(images.device)], info, zca, whitened)
    scale = scale if scale is not None else max(1, min(4, GRID_SIDE // side))
    if scale > 1:
        chosen = chosen.repeat_interleave(scale, -1).repeat_interleave(scale, -2)
    return make_grid(chosen, nrow=cols, padding=2, pad_value=1.0)
