"""Batched, differentiable tensor helpers shared by the augmentations (private)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def bc(t: Tensor, x: Tensor) -> Tensor:
    return t.to(x.dtype).view(-1, 1, 1, 1)


def uniform_int(u: Tensor, lo: int, hi: int) -> Tensor:
    """Map uniforms in [0, 1) to integers uniform in [lo, hi] (inclusive)."""
    return (lo + torch.floor(u * (hi - lo + 1))).long().clamp(lo, hi)


def translate(x: Tensor, dh: Tensor, dw: Tensor, ph: int, pw: int) -> Tensor:
    """Per-image ``out[..., i, j] = x[..., i + dh, j + dw]`` with zero fill (``|dh| <= ph``)."""
    M, C, H, W = x.shape
    xp = F.pad(x, (pw, pw, ph, ph))
    rows = torch.arange(H, device=x.device) + dh.view(-1, 1) + ph
    xp = xp.gather(2, rows.view(M, 1, H, 1).expand(M, C, H, W + 2 * pw))
    cols = torch.arange(W, device=x.device) + dw.view(-1, 1) + pw
    return xp.gather(3, cols.view(M, 1, 1, W).expand(M, C, H, W))


def theta(a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    """Per-image affine matrices ``[[a, b, 0], [c, d, 0]]`` of shape (M, 2, 3)."""
    z = torch.zeros_like(a)
    return torch.stack([torch.stack([a, b, z], 1), torch.stack([c, d, z], 1)], 1)


def affine(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def dispatch(x: Tensor, choice: Tensor, fn: Callable[[int, Tensor, Tensor], Tensor]) -> Tensor:
    """Apply ``fn(k, x[idx], idx)`` to the rows ``idx`` of ``x`` with ``choice == k``.

    Loops only over the distinct values of ``choice`` (a handful of ops), never over rows.
    """
    present = torch.unique(choice).tolist()
    if len(present) == 1:
        return fn(present[0], x, torch.arange(x.shape[0], device=choice.device))
    outs, order = [], []
    for k in present:
        idx = torch.nonzero(choice == k).squeeze(1)
        outs.append(fn(k, x[idx.to(x.device)], idx))
        order.append(idx)
    return torch.cat(outs)[torch.argsort(torch.cat(order)).to(x.device)]
