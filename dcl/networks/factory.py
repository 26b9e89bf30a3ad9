"""Name or class path -> network, with reproducible, generator-driven initialisation."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from dcl.networks.classic import MLP, VGG11, AlexNet, LeNet
from dcl.networks.convnet import ConvNet
from dcl.networks.custom import (
    EXAMPLE,
    SIGNATURE,
    build_class_path,
    is_class_path,
    resolve_class_path,
)
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
    """Raises ``ValueError`` naming the closest known network if ``name`` is unknown.

    Class paths are checked by importing them (see ``dcl.networks.custom``): ``ValueError`` if
    that fails, ``TypeError`` if what they name cannot take ``(channels, num_classes,
    image_size)``.
    """
    if name in _BUILDERS:
        return
    if is_class_path(name):
        resolve_class_path(name)
        return
    by_lower = {n.lower(): n for n in NETWORK_NAMES}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    hint = f" Did you mean {by_lower[close[0]]!r}?" if close else ""
    known = ", ".join(sorted(NETWORK_NAMES))
    raise ValueError(
        f"Unknown network {name!r}.{hint} Known networks: {known}. Your own network works too, "
        f"as a dotted class path such as {EXAMPLE}: an nn.Module subclass (or a function "
        f"returning one) taking {SIGNATURE}."
    )


def network_problem(name: str) -> str | None:
    """What is wrong with network ``name`` (unknown, not importable, wrong signature), or ``None``.

    Nothing is built, so this is cheap enough for validating settings.
    """
    try:
        _check_name(name)
    except (ValueError, TypeError) as err:
        return str(err)
    return None


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

    Registry networks are first created on the ``meta`` device (no memory, no random draws) and
    then initialised by :func:`reset_parameters`, so the global RNG is untouched when
    ``generator`` is given. Initialisation happens on the generator's device and the result is
    moved to ``device``, so a CPU generator gives the same weights whatever ``device`` is.
    A class path is built by its own constructor under a forked RNG seeded from ``generator``
    (``dcl.networks.custom`` says why): the same guarantees, and its own initialisation.

    Args:
        name: One of ``NETWORK_NAMES``, or the dotted class path of an ``nn.Module`` subclass (or
            of a function returning one) taking ``(channels, num_classes, image_size)``.
        channels: Input channels (1 or 3).
        num_classes: Number of output logits.
        image_size: Side of the square input images (8, 28, 32 and 64 are supported).
        generator: Source of the initial weights; the global RNG when ``None``.
        device: Device of the returned network; CPU when ``None``.

    Returns:
        The network, in train mode.

    Raises:
        ValueError: For an unknown name (the message lists the known names), a class path that
            cannot be imported, or inputs too small.
        TypeError: For a class path that does not take ``(channels, num_classes, image_size)``
            or does not return an ``nn.Module``.
    """
    target = torch.device(device) if device is not None else torch.device("cpu")
    if is_class_path(name):
        net = build_class_path(name, channels, num_classes, image_size, generator)
        return net.to(target).train()
    _check_name(name)
    with torch.device("meta"):
        net = _BUILDERS[name](channels, num_classes, image_size)
    init_device = generator.device if generator is not None else target
    net = net.to_empty(device=init_device)
    reset_parameters(net, generator)
    return net.to(target)


def instance_norm_variant(name: str) -> str:
    """Returns ``name`` with batchnorm swapped for instance norm (evaluation pool "S").

    The release's rule, ``name[:name.index("BN")]``: ConvNetBN -> ConvNet, VGG11BN -> VGG11, and
    ResNet18BN_AP -> ResNet18 (its published cross-architecture numbers were measured that way;
    ``ResNet18_AP`` stays available by name). Names without batchnorm and class paths (no variant
    is known for a user's network) are returned unchanged.

    Raises:
        ValueError: For an unknown name or a class path that cannot be imported.
    """
    _check_name(name)
    if is_class_path(name):
        return name
    return name[: name.index("BN")] if "BN" in name else name


def has_batchnorm(net: nn.Module) -> bool:
    """Returns whether any submodule of ``net`` is a batchnorm layer."""
    return any(isinstance(m, _BATCHNORMS) for m in net.modules())


def uses_batchnorm(
    name: str, channels: int = 3, num_classes: int = 10, image_size: int = 32
) -> bool:
    """Returns whether network ``name`` has batch norm, without the caller building it.

    Registry names tell by their ``BN`` (the release's rule, equal to ``has_batchnorm`` of every
    registry network); a class path is built once, with a private generator so the global RNG
    is untouched, at the given shape.
    """
    if not is_class_path(name):
        _check_name(name)
        return "BN" in name
    probe = build_network(name, channels, num_classes, image_size, generator=torch.Generator())
    return has_batchnorm(probe)
