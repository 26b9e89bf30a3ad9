"""Calls of a network on a batch, plain or through ``torch.compile`` (opt-in speed on CPU).

The losses and training loops take a ``Forward`` so that one code path serves both: the plain
call is the definition, the compiled one must give the same numbers (tested).
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable

import torch
from torch import Tensor, nn

# Runs a network on a batch: (net, x) -> output; e.g. a torch.compile'd ``net.embed`` call.
Forward = Callable[[nn.Module, Tensor], Tensor]


def embed(net: nn.Module, x: Tensor) -> Tensor:
    """The network's feature embedding (DM's ``net.embed``) of a batch."""
    return net.embed(x)


def logits(net: nn.Module, x: Tensor) -> Tensor:
    """The network's class logits of a batch."""
    return net(x)


def cpu_compiler() -> str | None:
    """The C++ compiler ``torch.compile`` would use for CPU code (``$CXX`` or g++), if found."""
    return shutil.which(os.environ.get("CXX", "g++"))


@functools.cache
def compiled(forward: Forward) -> Forward:
    """``forward`` through ``torch.compile``, shared by all networks of a shape.

    Inductor fuses each block's normalisation, activation and pooling, which cost about 40% of
    an eager ConvNet forward on CPU. The network is an argument, so the fresh network of every
    step reuses the compiled graph. Double backward (DC's synthetic side) is not supported.
    """
    return torch.compile(forward, dynamic=False)


def forwards(compile: bool) -> tuple[Forward, Forward]:
    """``(embed, logits)`` network calls, through ``torch.compile`` when ``compile``."""
    return (compiled(embed), compiled(logits)) if compile else (embed, logits)
