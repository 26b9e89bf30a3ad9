"""Networks users bring: a dotted class path (``mypkg.nets.MyNet``) instead of a registry name.

The path names an ``nn.Module`` subclass, or a factory function returning one, called as
``obj(channels, num_classes, image_size)``; the module holding it must be importable (installed,
or on ``PYTHONPATH``).

Initial weights come from the network's own constructor, run on the CPU under a forked RNG
seeded from the caller's generator, rather than from ``reset_parameters`` on the meta device as
for the registry networks: ``reset_parameters`` only knows the registry's layers, a user's
constructor may initialise its weights its own way, and on the meta device any buffer it computes
(a constant, a positional table) would be lost. The forked RNG keeps both reproducibility (the
same generator gives the same weights) and the global RNG's state.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import torch
from torch import nn

SIGNATURE = "(channels: int, num_classes: int, image_size: int)"
EXAMPLE = "'mypkg.nets.MyNet'"


def is_class_path(name: str) -> bool:
    """Whether ``name`` is a dotted class path rather than a registry name (those have no dot)."""
    return "." in name


def resolve_class_path(name: str) -> Callable[[int, int, int], nn.Module]:
    """Imports the network class or factory ``name`` points to and checks its signature.

    Args:
        name: ``package.module.Attribute``.

    Returns:
        The class or factory, to be called as ``obj(channels, num_classes, image_size)``.

    Raises:
        ValueError: If ``name`` is malformed, or its module or attribute cannot be found.
        TypeError: If it is not an ``nn.Module`` subclass or a callable, or cannot take
            ``(channels, num_classes, image_size)``.
    """
    module_name, _, attribute = name.rpartition(".")
    if not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(
            f"Network {name!r} is not a class path: use dotted Python identifiers, e.g. {EXAMPLE}."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or str(err)
        if module_name == missing or module_name.startswith(f"{missing}."):
            raise ValueError(
                f"Cannot import network {name!r}: no module named {missing!r}. Check the spelling "
                "and that the module is installed or on PYTHONPATH."
            ) from err
        raise ValueError(
            f"Cannot import network {name!r}: importing {module_name!r} failed because module "
            f"{missing!r} is missing (install it)."
        ) from err
    except ImportError as err:
        raise ValueError(
            f"Cannot import network {name!r}: importing {module_name!r} failed: {err}"
        ) from err
    if not hasattr(module, attribute):
        raise ValueError(
            f"Cannot import network {name!r}: module {module_name!r} has no attribute "
            f"{attribute!r}."
        )
    builder = getattr(module, attribute)
    _check_builder(name, builder)
    return builder


def _check_builder(name: str, builder: object) -> None:
    """Raises ``TypeError`` unless ``builder`` can be called as ``builder(c, k, s)``."""
    must = (
        f"A network class path must name an nn.Module subclass whose constructor takes "
        f"{SIGNATURE}, or a function with that signature returning an nn.Module"
    )
    if isinstance(builder, type) and not issubclass(builder, nn.Module):
        raise TypeError(f"{name!r} is a class but not a torch.nn.Module subclass. {must}.")
    if not callable(builder):
        raise TypeError(f"{name!r} is a {type(builder).__name__}, not a class or function. {must}.")
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):  # no introspectable signature: the call itself will tell
        return
    try:
        signature.bind(1, 1, 1)
    except TypeError as err:
        raise TypeError(
            f"{name}{signature} cannot be called as {name}{SIGNATURE} ({err}). {must}."
        ) from err


def build_class_path(
    name: str,
    channels: int,
    num_classes: int,
    image_size: int,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Builds the user network ``name`` on the CPU, its weights drawn from ``generator``.

    With a generator, one seed drawn from it seeds a forked copy of the CPU RNG for the
    constructor, so the same generator gives the same weights and the global RNG is untouched.

    Args:
        name: Dotted class path (see ``resolve_class_path``).
        channels: Input channels.
        num_classes: Number of output logits.
        image_size: Side of the square input images.
        generator: Source of the initial weights; the global RNG when ``None``.

    Returns:
        The network, on the CPU.

    Raises:
        ValueError: If ``name`` cannot be imported.
        TypeError: If it has the wrong signature or does not return an ``nn.Module``.
    """
    builder = resolve_class_path(name)
    with torch.device("cpu"):
        if generator is None:
            net = builder(channels, num_classes, image_size)
        else:
            seed = int(torch.randint(2**63 - 1, (), generator=generator, device=generator.device))
            with torch.random.fork_rng(devices=[]):
                torch.random.default_generator.manual_seed(seed)
                net = builder(channels, num_classes, image_size)
    if not isinstance(net, nn.Module):
        raise TypeError(
            f"{name}(channels, num_classes, image_size) returned a {type(net).__name__}; a "
            "network class path must name an nn.Module subclass or a function returning one."
        )
    return net
