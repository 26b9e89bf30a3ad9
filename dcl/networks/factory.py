"""Name -> network factory with reproducible, generator-driven initialisation."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from dcl.networks.classic import MLP, VGG11, AlexNet, LeNet
from dcl.networks.convnet import ConvNet
from dcl.networks.resnet import ResNet18

# Each builder takes (channels, num_classes, image_size).
_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "ConvNet": ConvNet,
    **{f"ConvNetW{w}": partial(ConvNet, width=w) for w in (32, 64, 128, 256)},
    **{f"ConvNetD{d}": partial(ConvNet, depth=d) for d in (1, 2, 3, 4)},
    "ConvNetAS": partial(ConvNet, act="sigmoid"),
    "ConvNetAR": partial(ConvNet, act="relu"),
    "ConvNetAL": partial(ConvNet, act="leakyrelu"),
    "ConvNetASwish": partial(ConvNet, act="swish"),
    "ConvNetNN": partial(ConvNet, norm="none"),
    "ConvNetBN": partial(ConvNet, norm="batchnorm"),
    "ConvNetLN": partial(ConvNet, norm="layernorm"),
    "ConvNetIN": partial(ConvNet, norm="instancenorm"),
    "ConvNetGN": partial(ConvNet, norm="groupnorm"),
    "ConvNetNP": partial(ConvNet, pool="none"),
    "ConvNetMP": partial(ConvNet, pool="maxpooling"),
    "ConvNetAP": partial(ConvNet, pool="avgpooling"),
    "ConvNetASwishBN": partial(ConvNet, act="swish", norm="batchnorm"),
    "MLP": MLP,
    "LeNet": LeNet,
    "AlexNet": AlexNet,
    "AlexNetBN": partial(AlexNet, norm="batchnorm"),
    "VGG11": VGG11,
    "VGG11BN": partial(VGG11, norm="batchnorm"),
    "ResNet18": ResNet18,
    "ResNet18BN": partial(ResNet18, norm="batchnorm"),
    "ResNet18_AP": partial(ResNet18, avgpool_downsample=True),
    "ResNet18BN_AP": partial(ResNet18, norm="batchnorm", avgpool_downsample=True),
}

NETWORK_NAMES: tuple[str, ...] = tuple(_BUILDERS)

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _check_name(name: str) -> None:
    """Raises ``ValueError`` naming the closest known network if ``name`` is unknown."""
    if name in _BUILDERS:
        return
    by_lower = {n.lower(): n for n in NETWORK_NAMES}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    hint = f" Did you mean {by_lower[close[0]]!r}?" if close else ""
    known = ", ".join(sorted(NETWORK_NAMES))
    raise ValueError(f"Unknown network {name!r}.{hint} Known networks: {known}")


def reset_parameters(net: nn.Module, generator: torch.Generator | None = None) -> None:
    """Initialises every parameter with PyTorch's default distributions, drawn from ``generator``.

    Conv/Linear weights: ``kaiming_uniform_(a=sqrt(5))``; biases: U(-1/sqrt(fan_in),
    1/sqrt(fan_in)); norm affines: ones/zeros; batchnorm running statistics are reset. Modules are
    visited in registration order, so a seeded generator gives identical weights.

    Args:
        net: Network whose parameters are (re)initialised in place.
        generator: Source of randomness; the global RNG when ``None``.

    Raises:
        TypeError: If a module owns parameters this function does not know how to initialise
            (rather than leaving them uninitialised).
    """
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1.0 / math.sqrt(module.weight[0].numel())  # fan_in
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, (*_BATCHNORMS, nn.GroupNorm, nn.LayerNorm)):
            if getattr(module, "reset_running_stats", None) is not None:
                module.reset_running_stats()
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif any(True for _ in module.parameters(recurse=False)):
            raise TypeError(f"don't know how to initialise {type(module).__name__}")


def build_network(
    name: str,
    channels: int,
    num_classes: int,
    image_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Builds a named network with reproducible initial weights.

    The modules are first created on the ``meta`` device (no memory, no random draws) and then
    initialised by :func:`reset_parameters`, so the global RNG is untouched when ``generator`` is
    given. Initialisation happens on the generator's device and the result is moved to ``device``,
    so a CPU generator gives the same weights whatever ``device`` is.

    Args:
        name: One of ``NETWORK_NAMES``.
        channels: Input channels (1 or 3).
        num_classes: Number of output logits.
        image_size: Side of the square input images (8, 28, 32 and 64 are supported).
        generator: Source of the initial weights; the global RNG when ``None``.
        device: Device of the returned network; CPU when ``None``.

    Returns:
        The network, in train mode.

    Raises:
        ValueError: For an unknown name (the message lists the known names) or inputs too small.
    """
    _check_name(name)
    with torch.device("meta"):
        net = _BUILDERS[name](channels, num_classes, image_size)
    target = torch.device(device) if device is not None else torch.device("cpu")
    init_device = generator.device if generator is not None else target
    net = net.to_empty(device=init_device)
    reset_parameters(net, generator)
    return net.to(target)


def supports_embed(net: nn.Module) -> bool:
    """Returns whether ``net`` has an ``embed(x)`` method (features before the final Linear)."""
    return callable(getattr(net, "embed", None))


def instance_norm_variant(name: str) -> str:
    """Returns ``name`` with batchnorm swapped for instance norm (evaluation pool "S").

    The release's rule, ``name[:name.index("BN")]``: ConvNetBN -> ConvNet, VGG11BN -> VGG11, and
    ResNet18BN_AP -> ResNet18 (its published cross-architecture numbers were measured that way;
    ``ResNet18_AP`` stays available by name). Names without batchnorm are returned unchanged.

    Raises:
        ValueError: For an unknown name.
    """
    _check_name(name)
    return name[: name.index("BN")] if "BN" in name else name


def has_batchnorm(net: nn.Module) -> bool:
    """Returns whether any submodule of ``net`` is a batchnorm layer."""
    return any(isinstance(m, _BATCHNORMS) for m in net.modules())
