"""Differentiable Siamese Augmentation (DSA), Zhao & Bilen, ICML 2021.

All transforms are differentiable w.r.t. the input images and every random draw comes from an
explicit ``torch.Generator`` (the global RNG is never used or reseeded). Random numbers are drawn
on the generator's device (a CPU generator is fine for GPU images) and then moved to the images'
device. Each sampling call consumes a fixed number of draws, independent of the op drawn.

Two modes:

* siamese (gradient / distribution matching): images are grouped, e.g. by class, as
  ``(G, n, C, H, W)``. One op and one parameter set is drawn per group; every image of group ``g``
  (of the real batch and of the synthetic batch alike) gets exactly group ``g``'s transform.
* per-image (training networks on the synthetic set): one op per call, parameters per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from dcl.augmentation._functional import affine, bc, dispatch, theta, translate, uniform_int

__all__ = [
    "DSA",
    "DSA_OPS",
    "DSA_STRATEGY_FULL",
    "DSA_STRATEGY_NO_FLIP",
    "DSAParams",
    "default_dsa_strategy",
]

DSA_OPS: tuple[str, ...] = ("color", "crop", "cutout", "flip", "scale", "rotate")
DSA_STRATEGY_FULL = "color_crop_cutout_flip_scale_rotate"
DSA_STRATEGY_NO_FLIP = "color_crop_cutout_scale_rotate"

# Published DSA ranges.
_BRIGHTNESS, _SATURATION, _CONTRAST = 1.0, 2.0, 0.5
_CROP_RATIO, _CUTOUT_RATIO, _FLIP_PROB = 0.125, 0.5, 0.5
_SCALE_RATIO, _ROTATE_DEG = 1.2, 15.0


def default_dsa_strategy(dataset_name: str) -> str:
    """Return the published DSA strategy for a dataset.

    Args:
        dataset_name: Dataset name, case and punctuation insensitive (``"MNIST"``, ``"cifar10"``).

    Returns:
        ``DSA_STRATEGY_NO_FLIP`` for MNIST, SVHN and digits (digits must not be mirrored), otherwise
        ``DSA_STRATEGY_FULL`` (FashionMNIST, CIFAR10/100, TinyImageNet and any other dataset).
    """
    key = "".join(ch for ch in dataset_name.lower() if ch.isalnum())
    return DSA_STRATEGY_NO_FLIP if key in ("mnist", "svhn", "digits") else DSA_STRATEGY_FULL


@dataclass(frozen=True)
class DSAParams:
    """Drawn DSA parameters for ``G`` groups (all tensors have leading dimension ``G``).

    Parameters for every op are drawn for every group; only those of the group's op are used.
    Crop and cutout positions are stored as uniforms in [0, 1) and turned into integer pixel
    positions at apply time, so one draw can be applied to images of any size.

    Attributes:
        op: ``(G,)`` long, index into ``DSA_OPS`` of each group's op.
        brightness: ``(G,)`` additive offset in [-0.5, 0.5).
        saturation: ``(G,)`` factor in [0, 2).
        contrast: ``(G,)`` factor in [0.5, 1.5).
        crop: ``(G, 2)`` uniforms giving the (row, column) shift, each in [-s, s].
        cutout: ``(G, 2)`` uniforms giving the (row, column) position of the square's centre.
        flip: ``(G,)`` bool, whether to flip horizontally.
        scale: ``(G, 2)`` factors ``(sx, sy)`` in [1/1.2, 1.2) used as affine theta diagonal.
        angle: ``(G,)`` rotation angle in radians, in [-15, 15) degrees.
    """

    op: Tensor
    brightness: Tensor
    saturation: Tensor
    contrast: Tensor
    crop: Tensor
    cutout: Tensor
    flip: Tensor
    scale: Tensor
    angle: Tensor

    @property
    def groups(self) -> int:
        """Number of groups ``G``."""
        return self.op.shape[0]

    def _map(self, fn: Callable[[Tensor], Tensor]) -> DSAParams:
        return DSAParams(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def select(self, idx: int | slice | Sequence[int] | Tensor) -> DSAParams:
        """Return the parameters of a subset of groups (an int keeps a group dimension of 1).

        Args:
            idx: Group index, slice, index list, or long/bool index tensor.

        Returns:
            The selected groups' parameters, e.g. ``select(g)`` applies to ``x[g:g+1]``.
        """
        index = [idx] if isinstance(idx, int) else idx
        return self._map(lambda t: t[index])

    def to(self, device: torch.device | str) -> DSAParams:
        """Move all parameter tensors to ``device``.

        Args:
            device: Target device.

        Returns:
            Parameters on ``device`` (``self`` if already there).
        """
        if self.op.device == torch.device(device):
            return self
        return self._map(lambda t: t.to(device))


def _color(x: Tensor, p: DSAParams) -> Tensor:
    x = x + bc(p.brightness, x)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * bc(p.saturation, x) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * bc(p.contrast, x) + mean


def _crop(x: Tensor, p: DSAParams) -> Tensor:
    H, W = x.shape[-2:]
    sh, sw = int(H * _CROP_RATIO + 0.5), int(W * _CROP_RATIO + 0.5)
    dh, dw = uniform_int(p.crop[:, 0], -sh, sh), uniform_int(p.crop[:, 1], -sw, sw)
    return translate(x, dh, dw)


def _cutout(x: Tensor, p: DSAParams) -> Tensor:
    # Authors: offset = randint(0, H + (1 - size % 2)); square [offset - size//2, +size) clamped.
    H, W = x.shape[-2:]
    ch, cw = int(H * _CUTOUT_RATIO + 0.5), int(W * _CUTOUT_RATIO + 0.5)
    top = uniform_int(p.cutout[:, 0], 0, H - ch % 2) - ch // 2
    left = uniform_int(p.cutout[:, 1], 0, W - cw % 2) - cw // 2
    rows = torch.arange(H, device=x.device) - top.view(-1, 1)
    cols = torch.arange(W, device=x.device) - left.view(-1, 1)
    in_r, in_c = (rows >= 0) & (rows < ch), (cols >= 0) & (cols < cw)
    keep = ~(in_r[:, :, None] & in_c[:, None, :])
    return x * keep.unsqueeze(1).to(x.dtype)


def _flip(x: Tensor, p: DSAParams) -> Tensor:
    return torch.where(p.flip.view(-1, 1, 1, 1), x.flip(-1), x)


def _scale(x: Tensor, p: DSAParams) -> Tensor:
    zero = torch.zeros_like(p.angle)
    return affine(x, theta(p.scale[:, 0], zero, zero, p.scale[:, 1]))


def _rotate(x: Tensor, p: DSAParams) -> Tensor:
    cos, sin = torch.cos(p.angle), torch.sin(p.angle)
    return affine(x, theta(cos, sin, -sin, cos))


_OP_FNS: tuple[Callable[[Tensor, DSAParams], Tensor], ...] = (
    _color,
    _crop,
    _cutout,
    _flip,
    _scale,
    _rotate,
)


class DSA:
    """Differentiable Siamese Augmentation with a fixed strategy.

    Each call draws one op uniformly from the strategy's entries (per group in siamese mode, once
    per call in per-image mode); repeating an op in the strategy weights it accordingly.

    Args:
        strategy: Op names joined by ``"_"``, each one of ``DSA_OPS``.

    Raises:
        ValueError: If the strategy is empty or names an unknown op.
    """

    def __init__(self, strategy: str = DSA_STRATEGY_FULL) -> None:
        names = [n for n in strategy.split("_") if n]
        bad = [n for n in names if n not in DSA_OPS]
        if bad or not names:
            what = f"unknown DSA op(s) {bad}" if bad else "empty DSA strategy"
            raise ValueError(f"{what} in {strategy!r}; valid ops: {', '.join(DSA_OPS)}")
        self.strategy = strategy
        self.ops: tuple[str, ...] = tuple(names)
        self._op_ids = torch.tensor([DSA_OPS.index(n) for n in names])

    def __repr__(self) -> str:
        return f"DSA(strategy={self.strategy!r})"

    def sample(
        self,
        groups: int,
        generator: torch.Generator,
        *,
        device: torch.device | str | None = None,
        one_op: bool = False,
    ) -> DSAParams:
        """Draw an op and a parameter set for each of ``groups`` groups.

        Args:
            groups: Number of groups ``G`` (classes in siamese mode, images in per-image mode).
            generator: Source of randomness; draws happen on its device.
            device: Device of the returned parameters (default: the generator's device).
            one_op: If True, draw one op shared by all groups (per-image mode); otherwise one op
                per group (batched siamese mode). Parameters are always drawn per group.

        Returns:
            The drawn parameters.
        """
        if groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        gdev = generator.device
        n_ops = 1 if one_op else groups
        k = torch.randint(len(self.ops), (n_ops,), generator=generator, device=gdev)
        op = self._op_ids.to(gdev)[k].expand(groups).contiguous()
        u = torch.rand(groups, 11, generator=generator, device=gdev)
        lo = 1.0 / _SCALE_RATIO
        params = DSAParams(
            op=op,
            brightness=(u[:, 0] - 0.5) * _BRIGHTNESS,
            saturation=u[:, 1] * _SATURATION,
            contrast=u[:, 2] + _CONTRAST,
            crop=u[:, 3:5],
            cutout=u[:, 5:7],
            flip=u[:, 7] < _FLIP_PROB,
            scale=lo + u[:, 8:10] * (_SCALE_RATIO - lo),
            angle=(u[:, 10] - 0.5) * 2.0 * math.radians(_ROTATE_DEG),
        )
        return params.to(device if device is not None else gdev)

    def apply(self, x: Tensor, params: DSAParams) -> Tensor:
        """Apply group ``g``'s op and parameters to all images of ``x[g]``.

        Args:
            x: Images ``(G, n, C, H, W)``; ``G`` must equal ``params.groups``.
            params: Parameters from :meth:`sample` (moved to ``x.device`` if needed).

        Returns:
            Augmented images of the same shape, differentiable w.r.t. ``x``.
        """
        if x.dim() != 5 or x.shape[0] != params.groups:
            raise ValueError(f"expected x of shape ({params.groups}, n, C, H, W), got {x.shape}")
        params = params.to(x.device)
        n = x.shape[1]

        def run(k: int, xs: Tensor, idx: Tensor) -> Tensor:
            p = params.select(idx)._map(lambda t: t.repeat_interleave(n, dim=0))
            return _OP_FNS[k](xs.flatten(0, 1), p).reshape(xs.shape)

        return dispatch(x, params.op, run)

    def siamese(self, *xs: Tensor, generator: torch.Generator) -> tuple[Tensor, ...]:
        """Siamese augmentation: one draw per group, shared by all tensors.

        Args:
            *xs: Tensors ``(G, n_i, C, H, W)`` with the same ``G`` (e.g. real and synthetic
                images per class); image ``j`` of ``xs[i][g]`` gets group ``g``'s transform.
            generator: Source of randomness.

        Returns:
            The augmented tensors, in order, each with its input's shape.
        """
        if not xs or any(x.dim() != 5 or x.shape[0] != xs[0].shape[0] for x in xs):
            raise ValueError("siamese expects tensors (G, n_i, C, H, W) with the same G")
        params = self.sample(xs[0].shape[0], generator, device=xs[0].device)
        first = xs[0]
        if len(xs) > 1 and all(
            x.shape[2:] == first.shape[2:] and x.dtype == first.dtype and x.device == first.device
            for x in xs
        ):
            out = self.apply(torch.cat(xs, dim=1), params)
            return tuple(out.split([x.shape[1] for x in xs], dim=1))
        return tuple(self.apply(x, params) for x in xs)

    def per_image(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Non-siamese augmentation: one op for the whole call, parameters drawn per image.

        Args:
            x: Images ``(N, C, H, W)``.
            generator: Source of randomness.

        Returns:
            Augmented images ``(N, C, H, W)``.
        """
        if x.dim() != 4:
            raise ValueError(f"expected x of shape (N, C, H, W), got {tuple(x.shape)}")
        params = self.sample(x.shape[0], generator, device=x.device, one_op=True)
        return self.apply(x.unsqueeze(1), params).squeeze(1)
