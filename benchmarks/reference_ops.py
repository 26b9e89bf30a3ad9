"""Plain implementations from docs/reference.md, independent of ``dcl``: a check on the library.

The DSA operators work on one image at a time with explicit loops over pixels (section 4, with
the release's torch 1.2 conventions: ``align_corners=True`` sampling, zero fill), and the
evaluation loop is the release's ``evaluate_synset`` written out (section 6). Nothing here
imports ``dcl``, so a mistake in the library cannot hide in its own reference. Slow by design:
tests use tiny images.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CROP_RATIO, CUTOUT_RATIO = 0.125, 0.5


def color(img: Tensor, brightness: float, saturation: float, contrast: float) -> Tensor:
    """Brightness offset, then saturation around the channel mean, then contrast around the mean.

    ``img`` is ``(C, H, W)``.
    """
    x = img + brightness
    gray = x.mean(0, keepdim=True)  # mean over channels, per pixel
    x = (x - gray) * saturation + gray
    mean = x.mean()
    return (x - mean) * contrast + mean


def crop(img: Tensor, dh: int, dw: int) -> Tensor:
    """``out[:, i, j] = img[:, i + dh, j + dw]``, zero where that falls outside."""
    _, H, W = img.shape
    out = torch.zeros_like(img)
    for i in range(H):
        for j in range(W):
            if 0 <= i + dh < H and 0 <= j + dw < W:
                out[:, i, j] = img[:, i + dh, j + dw]
    return out


def cutout(img: Tensor, top: int, left: int) -> Tensor:
    """Zero the square of side ``round(0.5 * H)`` whose top-left corner is (top, left)."""
    _, H, W = img.shape
    side_h, side_w = int(H * CUTOUT_RATIO + 0.5), int(W * CUTOUT_RATIO + 0.5)
    out = img.clone()
    for i in range(max(top, 0), min(top + side_h, H)):
        for j in range(max(left, 0), min(left + side_w, W)):
            out[:, i, j] = 0.0
    return out


def flip(img: Tensor, flag: bool) -> Tensor:
    """Horizontal mirror when ``flag``."""
    return img.flip(-1) if flag else img


def affine(img: Tensor, a: float, b: float, c: float, d: float) -> Tensor:
    """Sample ``img`` at ``[[a, b], [c, d]] @ (x, y)`` in [-1, 1] coordinates (corners aligned).

    Bilinear interpolation with zero padding, pixel by pixel: what ``affine_grid`` and
    ``grid_sample`` computed in torch 1.2, the release's version.
    """
    C, H, W = img.shape
    out = torch.zeros_like(img)
    for i in range(H):
        for j in range(W):
            xn, yn = -1 + 2 * j / (W - 1), -1 + 2 * i / (H - 1)
            sx, sy = a * xn + b * yn, c * xn + d * yn
            px, py = (sx + 1) / 2 * (W - 1), (sy + 1) / 2 * (H - 1)
            x0, y0 = math.floor(px), math.floor(py)
            for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
                for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
                    if 0 <= yy < H and 0 <= xx < W:
                        out[:, i, j] += wy * wx * img[:, yy, xx]
    return out


def scale(img: Tensor, sx: float, sy: float) -> Tensor:
    """Scale x and y independently (theta diagonal ``sx``, ``sy``)."""
    return affine(img, sx, 0.0, 0.0, sy)


def rotate(img: Tensor, angle: float) -> Tensor:
    """The release's ``rand_rotate``: theta ``[[cos, -sin], [sin, cos]]`` of ``angle`` radians."""
    return affine(img, math.cos(angle), -math.sin(angle), math.sin(angle), math.cos(angle))


def evaluate_synset(
    net: nn.Module,
    images: Tensor,
    labels: Tensor,
    epochs: int,
    shuffle: Callable[[int], Tensor],
    augment: Callable[[Tensor], Tensor] | None = None,
    lr: float = 0.01,
    batch: int = 256,
) -> nn.Module:
    """The release's training on a set: epochs 0..E; after epoch E//2+1, lr x0.1 in a new SGD.

    ``shuffle(n)`` gives each epoch's order (the release's shuffling ``DataLoader``).
    """
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=0.0005)
    for ep in range(epochs + 1):
        net.train()
        order = shuffle(images.shape[0])
        for start in range(0, images.shape[0], batch):
            idx = order[start : start + batch]
            img = images[idx] if augment is None else augment(images[idx])
            loss = F.cross_entropy(net(img), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if ep == epochs // 2 + 1:
            lr *= 0.1
            optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=0.0005)
    return net
