"""A network's parameters as one flat vector: the layout of expert buffers and MTT's student.

The vector ``(P,)`` holds the parameter tensors concatenated in ``net.named_parameters()``
order; ``unflatten_parameters`` gives them back by name, as views.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn


def parameter_shapes(net: nn.Module) -> dict[str, torch.Size]:
    """Name -> shape of every parameter of ``net``, in ``named_parameters()`` order."""
    return {name: p.shape for name, p in net.named_parameters()}


def flatten_parameters(net: nn.Module) -> Tensor:
    """``(P,)``: ``net``'s parameters, detached, concatenated in ``named_parameters()`` order."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def unflatten_parameters(shapes: Mapping[str, Sequence[int]], flat: Tensor) -> dict[str, Tensor]:
    """Views of the flat vector ``flat`` ``(P,)`` as the named tensors of ``shapes``.

    Args:
        shapes: Name -> shape, in the vector's order (``parameter_shapes``).
        flat: ``(P,)`` the concatenated parameters.

    Raises:
        ValueError: ``flat`` does not hold exactly the parameters of ``shapes``.
    """
    sizes = [math.prod(s) for s in shapes.values()]
    if flat.dim() != 1 or flat.numel() != sum(sizes):
        raise ValueError(
            f"A flat parameter vector of shape {tuple(flat.shape)} does not fit a network of "
            f"{sum(sizes)} parameters ({len(sizes)} tensors): was the expert buffer made with "
            "another network or dataset?"
        )
    pieces = flat.split(sizes)
    return {name: t.view(*s) for (name, s), t in zip(shapes.items(), pieces, strict=True)}
