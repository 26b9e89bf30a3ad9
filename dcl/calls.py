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

from dcl.networks.embedding import embed as features

# Runs a network on a batch: (net, x) -> output; e.g. a torch.compile'd ``net.embed`` call.
Forward = Callable[[nn.Module, Tensor], Tensor]


def embed(net: nn.Module, x: Tensor) -> Tensor:
    """The network's feature embedding of a batch (DM's); see ``dcl.networks.embed``.

    ``net.embed(x)`` when the network has that method, else the input of its last ``nn.Linear``.
    """
    return features(net, x)


def logits(net: nn.Module, x: Tensor) -> Tensor:
    """The network's class logits of a batch."""
    return net(x)


def predict(net: nn.Module, x: Tensor) -> Tensor:
    """The network's class logits of a test batch: ``logits`` under its own name.

    Evaluation compiles it apart from the training call, so that testing (no gradients, another
    batch size) adds a graph of its own instead of recompiling the shared one back and forth.
    """
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


@functools.cache
def nhwc(forward: Forward) -> Forward:
    """``forward`` on channels-last (NHWC) weights and activations: the same numbers.

    The network is converted in place on the way in (a no-op once converted), so fresh networks
    and DC's trained one need no separate step. Convolutions then pick NHWC kernels, which pay
    off most on GPUs with tensor cores; the conversion sits outside any compiled region.
    """

    def call(net: nn.Module, x: Tensor) -> Tensor:
        with torch.inference_mode(False):  # DM's real side would make the weights inference-only
            net.to(memory_format=torch.channels_last)
        return forward(net, x.contiguous(memory_format=torch.channels_last))

    return call


def _variants(
    calls: tuple[Forward, Forward], compile: bool, channels_last: bool
) -> tuple[Forward, Forward]:
    first, second = (compiled(calls[0]), compiled(calls[1])) if compile else calls
    return (nhwc(first), nhwc(second)) if channels_last else (first, second)


def forwards(compile: bool, channels_last: bool = False) -> tuple[Forward, Forward]:
    """``(embed, logits)`` network calls, through ``torch.compile`` and/or on NHWC tensors."""
    return _variants((embed, logits), compile, channels_last)


def evaluation_forwards(compile: bool, channels_last: bool = False) -> tuple[Forward, Forward]:
    """``(train, test)`` logits calls of the evaluation protocol, compiled apart when compiled.

    Each compiled call then holds one graph per batch shape for all the networks it trains or
    tests, where one shared call would switch between gradient modes at every model.
    """
    return _variants((logits, predict), compile, channels_last)
