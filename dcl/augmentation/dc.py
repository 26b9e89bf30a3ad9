"""DC evaluation-time augmentation (MNIST) as the authors' release does it.

The release (``utils.augment`` with ``dc_aug_param["strategy"] == "crop_scale_rotate"``, used to
train evaluation networks on MNIST) picks one op per image, uniformly, and first computes the
per-channel mean of the whole (normalised) batch, before any image is changed:

- crop: pad by ``crop`` with the channel's batch mean, then crop back at offset
  ``permutation(2 * crop)[0]`` drawn separately for rows and columns, i.e. a shift of
  ``-crop .. crop - 1`` (``out[i, j] = x[i + dh, j + dw]``, mean where that is outside).
- scale: ``h = int(H * U(1 - scale, 1 + scale))`` and ``w`` likewise (drawn independently; the
  release uses ``H`` for both, the same for square MNIST), ``F.interpolate`` (nearest) to
  ``(h, w)``, paste at ``int((m - h) / 2), int((m - w) / 2)`` of a zero square of side
  ``m = max(h, w, H, W)``, and cut ``H x W`` at ``int((m - H) / 2), int((m - W) / 2)``. The
  offsets depend on ``m`` (both axes), not on each axis alone. Zero fill, in normalised space.
- rotate: ``scipy.ndimage.rotate(image, angle, axes=(-2, -1), cval=mean of the channel means)``
  with ``angle = randint(-rotate, rotate)`` integer degrees (``-rotate .. rotate - 1``) and
  scipy's defaults: ``reshape=True``, ``order=3`` (cubic B-spline, prefiltered) and
  ``mode="constant"``.
  The enlarged result is cut back to ``H x W`` at ``int((out - H) / 2)``: when ``out - H`` is odd
  the rotation centre is off by half a pixel.

Strategy ``crop_noise`` (the release's choice for evaluation networks with batch norm) picks crop
or noise: ``x + noise * randn(C, H, W)`` with ``noise = 0.001``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from dcl.augmentation._functional import (
    cubic_bspline_weights,
    dispatch,
    mirror_index,
    nearest_source,
    spline_prefilter,
    take,
    translate,
)

__all__ = [
    "DC_OPS",
    "DC_STRATEGY",
    "DCParams",
    "dc_apply",
    "dc_augment",
    "dc_ops",
    "dc_params",
]

DC_OPS = ("crop", "scale", "rotate", "noise")
DC_STRATEGY = "crop_scale_rotate"


@dataclasses.dataclass(frozen=True)
class DCParams:
    """Per-image draws of the DC augmentation (every field drawn for every image).

    Attributes:
        op: ``(N,)`` long, index into :data:`DC_OPS`.
        shift: ``(N, 2)`` long, crop shift (rows, columns) in ``[-crop, crop - 1]``.
        size: ``(N, 2)`` long, scale target size ``(h, w)``.
        angle: ``(N,)`` long, rotation in integer degrees in ``[-rotate, rotate - 1]``.
        noise: ``(N, C, H, W)`` additive noise (already scaled) when the strategy has ``noise``,
            else None.
    """

    op: Tensor
    shift: Tensor
    size: Tensor
    angle: Tensor
    noise: Tensor | None = None

    def to(self, device: torch.device | str) -> DCParams:
        """The same draws on ``device``."""
        return DCParams(*(None if t is None else t.to(device) for t in dataclasses.astuple(self)))


def dc_ops(strategy: str) -> list[int]:
    """Indices into :data:`DC_OPS` of a release strategy string such as ``crop_scale_rotate``."""
    names = strategy.split("_")
    unknown = [n for n in names if n not in DC_OPS]
    if unknown or not strategy:
        raise ValueError(f"Unknown DC op(s) {unknown} in '{strategy}'; choose from {DC_OPS}.")
    return [DC_OPS.index(n) for n in names]


def dc_params(
    shape: Sequence[int],
    generator: torch.Generator,
    *,
    strategy: str = DC_STRATEGY,
    crop: int = 4,
    scale: float = 0.2,
    rotate: int = 45,
    noise: float = 0.001,
) -> DCParams:
    """Draw the per-image parameters of :func:`dc_augment` (on ``generator``'s device).

    Args:
        shape: Batch shape ``(N, C, H, W)``.
        generator: Source of randomness.
        strategy: Ops joined by ``_`` (from :data:`DC_OPS`), one chosen uniformly per image.
        crop: Padding of the crop op; shifts are ``-crop .. crop - 1``.
        scale: Sizes are ``int(H * U(1 - scale, 1 + scale))`` (float64, as numpy draws them).
        rotate: Angles are integers ``-rotate .. rotate - 1`` (numpy's ``randint`` excludes
            the upper end).
        noise: Standard deviation of the noise op.

    Returns:
        The draws.
    """
    ops = dc_ops(strategy)
    if crop < 1 or rotate < 1 or not 0.0 <= scale < 1.0:
        raise ValueError(f"need crop >= 1, rotate >= 1, 0 <= scale < 1; got {crop, rotate, scale}")
    n, c, h, w = shape
    dev = generator.device
    pick = torch.randint(len(ops), (n,), generator=generator, device=dev)
    op = torch.tensor(ops, device=dev)[pick]
    shift = torch.randint(2 * crop, (n, 2), generator=generator, device=dev) - crop
    u = torch.rand(n, 2, generator=generator, device=dev, dtype=torch.float64)
    lo, hi = 1.0 - scale, 1.0 + scale
    factor = lo + (hi - lo) * u  # numpy's uniform(lo, hi)
    dims = torch.tensor([h, w], device=dev, dtype=torch.float64)
    size = torch.floor(factor * dims).long()
    angle = torch.randint(-rotate, rotate, (n,), generator=generator, device=dev)
    eps = None
    if DC_OPS.index("noise") in ops:
        eps = noise * torch.randn(n, c, h, w, generator=generator, device=dev)
    return DCParams(op=op, shift=shift, size=size, angle=angle, noise=eps)


def dc_apply(x: Tensor, params: DCParams) -> Tensor:
    """Apply drawn DC augmentation parameters to a batch (one op per image, batched per op).

    The fills come from this batch: crop uses the per-channel mean of ``x``, rotate the mean of
    those channel means (as the release computes them, before any image is augmented).

    Args:
        x: Normalised images ``(N, C, H, W)``.
        params: Draws for the ``N`` images (any device).

    Returns:
        Augmented images ``(N, C, H, W)``, dtype of ``x``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected x of shape (N, C, H, W), got {tuple(x.shape)}")
    if params.op.shape != (x.shape[0],):
        raise ValueError(f"params are for {params.op.shape[0]} images, x has {x.shape[0]}")
    p = params.to(x.device)
    mean = x.mean(dim=(0, 2, 3))

    def run(k: int, xs: Tensor, idx: Tensor) -> Tensor:
        if k == 0:
            return translate(xs, p.shift[idx, 0], p.shift[idx, 1], mean)
        if k == 1:
            return _scale(xs, p.size[idx])
        if k == 2:
            return _rotate(xs, p.angle[idx], mean.to(torch.float64).mean())
        if p.noise is None:
            raise ValueError("params drawn without noise for a noise op")
        return xs + p.noise[idx].to(xs.dtype)

    return dispatch(x, p.op, run)


def dc_augment(
    x: Tensor,
    generator: torch.Generator,
    *,
    strategy: str = DC_STRATEGY,
    crop: int = 4,
    scale: float = 0.2,
    rotate: int = 45,
    noise: float = 0.001,
) -> Tensor:
    """DC evaluation augmentation (``crop_scale_rotate`` on MNIST): one op per image.

    Reproduces the release (see the module docstring): crop, scale and noise exactly (copies of
    input pixels or the fill; noise from ``generator``), rotate as scipy's cubic-spline ``rotate``
    computed in float64 (float32 on MPS). Torch has no cubic B-spline sampler (``grid_sample``'s
    bicubic is Keys' cubic convolution, ``a = -0.75``, applied to the samples without a
    prefilter: a different kernel), so the spline is written out: the prefilter as a matrix (the
    inverse of the mirrored ``[1, 4, 1] / 6`` sampling matrix, which scipy applies as a recursive
    filter), then the 4 x 4 B-spline taps with scipy's weight formulas, mirrored tap indices, and
    ``cval`` wherever a source coordinate falls outside ``[0, n - 1]`` (scipy's
    ``mode="constant"``, scipy >= 1.6). What still differs is rounding: the prefilter (matrix vs
    recursion) and ``cos``/``sin`` (torch vs cephes ``cosdg``), about 1e-15 relative in float64;
    after the cast to float32 the outputs agree with scipy's to within one float32 ulp (measured
    over all 90 angles on 28 x 28 images: 1 output in 211680 differs, by one ulp).
    Differentiable w.r.t. ``x`` (a graph is only built when ``x`` requires grad); randomness
    comes only from ``generator``, on its device.

    Args:
        x: Normalised images ``(N, C, H, W)``.
        generator: Source of randomness; draws happen on its device.
        strategy: Ops joined by ``_`` (``crop_scale_rotate``; ``crop_noise`` for batch norm).
        crop: Crop padding; shifts are ``-crop .. crop - 1``.
        scale: Relative size range of the scale op.
        rotate: Angle range of the rotate op (integer degrees ``-rotate .. rotate - 1``).
        noise: Standard deviation of the noise op.

    Returns:
        Augmented images ``(N, C, H, W)``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected x of shape (N, C, H, W), got {tuple(x.shape)}")
    params = dc_params(
        x.shape, generator, strategy=strategy, crop=crop, scale=scale, rotate=rotate, noise=noise
    )
    return dc_apply(x, params)


def _scale(x: Tensor, size: Tensor) -> Tensor:
    """Nearest resize to ``size`` then centre crop / zero pad to the input size, as the release."""
    _, _, H, W = x.shape
    dev = x.device
    h, w = size[:, :1], size[:, 1:]
    big = torch.stack([h, w, torch.full_like(h, H), torch.full_like(w, W)]).amax(0)

    def axis(n: int, m: Tensor, side: Tensor) -> Tensor:
        # Output index -> index into the resized image (side) -> source index; -1 = padding.
        resized = torch.arange(n, device=dev) + (side - n) // 2 - (side - m) // 2
        inside = (resized >= 0) & (resized < m)
        src = nearest_source(resized.clamp(0, None), m, torch.full_like(m, n))
        return torch.where(inside, src, -1)

    return take(x, axis(H, h, big), axis(W, w, big), 0.0)


def _rotate(x: Tensor, angle: Tensor, cval: Tensor) -> Tensor:
    """``scipy.ndimage.rotate(reshape=True, order=3, mode="constant")`` then the centre cut."""
    M, C, H, W = x.shape
    dev = x.device
    wd = torch.float32 if dev.type == "mps" else torch.float64
    coef = spline_prefilter(H, dev, wd) @ x.to(wd) @ spline_prefilter(W, dev, wd).T
    rad = torch.deg2rad(angle.to(wd))
    c, s = torch.cos(rad).view(M, 1, 1), torch.sin(rad).view(M, 1, 1)
    # Output plane of reshape=True: extent of the rotated corners, rounded half up (scipy).
    corners = torch.tensor([[0.0, 0.0, H, H], [0.0, W, 0.0, W]], device=dev, dtype=wd)
    rows = c * corners[0] + s * corners[1]
    cols = -s * corners[0] + c * corners[1]
    out_h = torch.floor(rows.amax(-1) - rows.amin(-1) + 0.5)  # (M, 1)
    out_w = torch.floor(cols.amax(-1) - cols.amin(-1) + 0.5)
    # scipy maps output (o_r, o_c) to input R @ o + offset, offset = in_centre - R @ out_centre.
    ctr_r, ctr_c = (out_h - 1.0) / 2.0, (out_w - 1.0) / 2.0
    off_r = (H - 1.0) / 2.0 - (c.view(M, 1) * ctr_r + s.view(M, 1) * ctr_c)
    off_c = (W - 1.0) / 2.0 - (-s.view(M, 1) * ctr_r + c.view(M, 1) * ctr_c)
    # The release keeps the centre H x W of the enlarged output, cut at int((out - H) / 2).
    o_r = (
        torch.arange(H, device=dev, dtype=wd).view(1, H, 1)
        + torch.trunc((out_h - H) / 2.0)[..., None]
    )
    o_c = (
        torch.arange(W, device=dev, dtype=wd).view(1, 1, W)
        + torch.trunc((out_w - W) / 2.0)[..., None]
    )
    src_r = o_r * c + o_c * s + off_r[..., None]  # (M, H, W)
    src_c = o_r * -s + o_c * c + off_c[..., None]
    inside = (src_r >= 0) & (src_r <= H - 1) & (src_c >= 0) & (src_c <= W - 1)

    def taps(src: Tensor, n: int) -> tuple[list[Tensor], tuple[Tensor, ...]]:
        src = src.clamp(0.0, n - 1.0)
        floor = torch.floor(src)
        start = floor.long() - 1
        idx = [mirror_index(start + k, n).view(M, 1, H * W) for k in range(4)]
        wts = cubic_bspline_weights(src - floor)
        return idx, tuple(t.view(M, 1, H * W) for t in wts)

    idx_r, w_r = taps(src_r, H)
    idx_c, w_c = taps(src_c, W)
    flat = coef.reshape(M, C, H * W)
    acc = torch.zeros_like(flat)
    for a in range(4):  # scipy's order: rows outer, columns inner, (coef * w_row) * w_col
        for b in range(4):
            tap = flat.gather(2, (idx_r[a] * W + idx_c[b]).expand(M, C, H * W))
            acc = acc + tap * w_r[a] * w_c[b]
    out = torch.where(inside.view(M, 1, H * W), acc, cval.to(wd))
    return out.view(M, C, H, W).to(x.dtype)
