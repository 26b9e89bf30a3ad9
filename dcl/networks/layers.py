"""Building blocks shared by the architectures: norms, activations, size-aware pooling."""

from __future__ import annotations

from torch import nn

NORMS = ("instancenorm", "batchnorm", "layernorm", "groupnorm", "none")
ACTIVATIONS = ("relu", "sigmoid", "leakyrelu", "swish")
POOLINGS = ("avgpooling", "maxpooling", "none")


def _check(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {allowed}")


def make_norm(norm: str, channels: int, size: int) -> nn.Module:
    """Returns a 2-D normalisation layer.

    Args:
        norm: One of ``NORMS``. "instancenorm" is ``GroupNorm(C, C)`` with a learnable affine, so
            it is per-sample and behaves identically in train and eval mode.
        channels: Number of feature channels ``C``.
        size: Spatial side of the feature map; only layer norm (over ``[C, H, W]``) needs it.

    Returns:
        The layer (``nn.Identity`` for "none").
    """
    _check("norm", norm, NORMS)
    if norm == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    if norm == "batchnorm":
        return nn.BatchNorm2d(channels)
    if norm == "layernorm":
        return nn.LayerNorm([channels, size, size])
    if norm == "groupnorm":
        return nn.GroupNorm(4, channels, affine=True)
    return nn.Identity()


def make_activation(act: str) -> nn.Module:
    """Returns the activation ``act`` (one of ``ACTIVATIONS``); swish is x * sigmoid(x) (SiLU).

    ReLU and leaky ReLU work in place, as in the authors' ConvNet: they follow a norm or conv,
    whose backward needs its input, not its output, and skipping one activation-sized write
    measured about 10% off a CPU DM step. SiLU stays out of place (its backward needs the input).
    """
    _check("activation", act, ACTIVATIONS)
    return {
        "relu": lambda: nn.ReLU(inplace=True),
        "sigmoid": nn.Sigmoid,
        "leakyrelu": lambda: nn.LeakyReLU(0.01, inplace=True),
        "swish": nn.SiLU,
    }[act]()


def make_pool(pool: str, size: int) -> tuple[nn.Module | None, int]:
    """Returns a 2x2 stride-2 pooling layer and the map side after it.

    Pooling is skipped (``None``) once the map is 1x1, because halving it again would leave an
    empty map; this is what lets deep nets run on 8x8 inputs.

    Args:
        pool: One of ``POOLINGS``.
        size: Map side before pooling.

    Returns:
        ``(layer or None, new side)``.
    """
    _check("pooling", pool, POOLINGS)
    if pool == "none" or size < 2:
        return None, size
    layer = nn.AvgPool2d(2, 2) if pool == "avgpooling" else nn.MaxPool2d(2, 2)
    return layer, size // 2


def conv_out(size: int, kernel: int, padding: int, stride: int = 1) -> int:
    """Returns the output side of a convolution and raises if the map would vanish.

    Raises:
        ValueError: If the output would be smaller than 1x1.
    """
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"input map of side {size} is too small for a {kernel}x{kernel} conv")
    return out
