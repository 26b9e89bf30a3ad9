"""Batched, differentiable tensor helpers shared by the augmentations (private)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def bc(t: Tensor, x: Tensor) -> Tensor:
    return t.to(x.dtype).view(-1, 1, 1, 1)


def uniform_int(u: Tensor, lo: int, hi: int) -> Tensor:
    """Map uniforms in [0, 1) to integers uniform in [lo, hi] (inclusive)."""
    return (lo + torch.floor(u * (hi - lo + 1))).long().clamp(lo, hi)


def translate(x: Tensor, dh: Tensor, dw: Tensor, fill: Tensor | float = 0.0) -> Tensor:
    """Per-image ``out[..., i, j] = x[..., i + dh, j + dw]``; ``fill`` where that is outside.

    ``fill`` is a scalar (DSA's zero) or one value per channel (DC's batch mean).
    """
    _, _, H, W = x.shape
    rows = torch.arange(H, device=x.device) + dh.view(-1, 1)
    cols = torch.arange(W, device=x.device) + dw.view(-1, 1)
    return take(x, rows, cols, fill)


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


def take(x: Tensor, rows: Tensor, cols: Tensor, fill: Tensor | float = 0.0) -> Tensor:
    """Per-image ``out[m, c, i, j] = x[m, c, rows[m, i], cols[m, j]]``, ``fill`` out of range.

    Args:
        x: Images ``(M, C, H, W)``.
        rows: Source rows ``(M, H')`` (long); entries outside ``[0, H)`` give ``fill``.
        cols: Source columns ``(M, W')`` (long); entries outside ``[0, W)`` give ``fill``.
        fill: A scalar, or one value per channel ``(C,)``.

    Returns:
        Images ``(M, C, H', W')``; in-range pixels are exact copies of ``x``.
    """
    M, C, H, W = x.shape
    h, w = rows.shape[1], cols.shape[1]
    r, c = rows.clamp(0, H - 1), cols.clamp(0, W - 1)
    out = x.gather(2, r.view(M, 1, h, 1).expand(M, C, h, W))
    out = out.gather(3, c.view(M, 1, 1, w).expand(M, C, h, w))
    valid = ((rows >= 0) & (rows < H)).view(M, 1, h, 1) & ((cols >= 0) & (cols < W)).view(
        M, 1, 1, w
    )
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    return torch.where(valid, out, f.view(1, -1, 1, 1) if f.dim() == 1 else f)


def nearest_source(dst: Tensor, out_size: Tensor, in_size: Tensor) -> Tensor:
    """Source index of ``F.interpolate(..., mode="nearest")`` for destination index ``dst``.

    ATen's rule, bit for bit: ``min(floor(float32(dst) * float32(in / out)), in - 1)`` with the
    scale rounded to float32 (``in / out`` in float32), so per-image sizes can be batched.

    Args:
        dst: Destination indices (long), broadcastable with the sizes.
        out_size: Resized length (long).
        in_size: Original length (long).

    Returns:
        Source indices (long).
    """
    scale = in_size.to(torch.float32) / out_size.to(torch.float32)
    src = torch.floor(dst.to(torch.float32) * scale).long()
    return torch.minimum(src, in_size - 1)


@functools.lru_cache(maxsize=16)
def _spline_prefilter_cpu(n: int) -> Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    if n == 1:
        return a + 1.0
    i = torch.arange(n)
    a[i, i] = 4.0 / 6.0
    a[i[:-1], i[:-1] + 1] = 1.0 / 6.0
    a[i[1:], i[1:] - 1] = 1.0 / 6.0
    a[0, 1] = a[n - 1, n - 2] = 2.0 / 6.0
    return torch.linalg.inv(a)


def spline_prefilter(n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Matrix ``(n, n)`` of scipy's cubic B-spline prefilter with mirror boundary.

    ``coefficients = P @ samples`` is what ``scipy.ndimage.spline_filter1d(order=3, mode="mirror")``
    (also used for ``mode="constant"``) computes with its recursive filter: the inverse of the
    sampling matrix ``[1, 4, 1] / 6`` of a signal mirrored about its end samples.

    Args:
        n: Signal length.
        device: Device of the result.
        dtype: Dtype of the result (computed in float64 on the CPU, cached per ``n``).

    Returns:
        The prefilter matrix.
    """
    return _spline_prefilter_cpu(n).to(device=device, dtype=dtype, copy=True)


def mirror_index(idx: Tensor, n: int) -> Tensor:
    """Indices mirrored about the end samples, as scipy's ``mirror`` (``-1 -> 1``, ``n -> n-2``)."""
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * n - 2
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def cubic_bspline_weights(t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cubic B-spline weights of taps ``floor - 1 .. floor + 2`` for fractional part ``t``.

    Same expressions and evaluation order as scipy's ``get_spline_interpolation_weights``.
    """
    z = 1.0 - t
    w0 = z * z * z / 6.0
    w1 = (t * t * (t - 2.0) * 3.0 + 4.0) / 6.0
    w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
    return w0, w1, w2, 1.0 - w0 - w1 - w2
