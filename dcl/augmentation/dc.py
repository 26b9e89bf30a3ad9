"""DC evaluation-time augmentation (MNIST): per image, one of crop, scale or rotate."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dcl.augmentation._functional import affine, dispatch, theta, translate, uniform_int

__all__ = ["dc_augment"]


def dc_augment(
    x: Tensor,
    generator: torch.Generator,
    *,
    crop: int = 4,
    scale: float = 0.2,
    rotate: float = 45.0,
) -> Tensor:
    """DC evaluation augmentation (MNIST): per image, one of crop, scale or rotate.

    Crop pads by ``crop`` and crops back (integer translation in [-crop, crop], zero fill); scale
    zooms rows and columns independently by factors in [1 - scale, 1 + scale]; rotate turns by an
    angle in [-rotate, rotate] degrees. Affine ops use bilinear sampling with zero fill (zero is
    the dataset mean in normalised space). Batched, differentiable w.r.t. ``x``.

    Args:
        x: Images ``(N, C, H, W)``.
        generator: Source of randomness; draws happen on its device.
        crop: Maximum translation in pixels.
        scale: Maximum relative zoom.
        rotate: Maximum rotation in degrees.

    Returns:
        Augmented images ``(N, C, H, W)``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected x of shape (N, C, H, W), got {tuple(x.shape)}")
    gdev = generator.device
    choice = torch.randint(3, (x.shape[0],), generator=generator, device=gdev).to(x.device)
    u = torch.rand(x.shape[0], 3, generator=generator, device=gdev).to(x.device)

    def run(k: int, xs: Tensor, idx: Tensor) -> Tensor:
        v = u[idx]
        if k == 0:
            dh, dw = uniform_int(v[:, 0], -crop, crop), uniform_int(v[:, 1], -crop, crop)
            return translate(xs, dh, dw, crop, crop)
        if k == 1:
            zoom = 1.0 - scale + 2.0 * scale * v[:, :2]  # (rows, cols)
            zero = torch.zeros_like(v[:, 0])
            return affine(xs, theta(1.0 / zoom[:, 1], zero, zero, 1.0 / zoom[:, 0]))
        angle = (2.0 * v[:, 2] - 1.0) * math.radians(rotate)
        cos, sin = torch.cos(angle), torch.sin(angle)
        return affine(xs, theta(cos, sin, -sin, cos))

    return dispatch(x, choice, run)
