"""A student network trained functionally on the synthetic set, differentiable end to end (MTT).

The student's parameters are one flat vector ``(P,)``, its tensors concatenated in
``net.named_parameters()`` order (the layout of the expert buffers, ``dcl.methods.mtt``). Each
synthetic step is plain SGD, ``w <- w - lr * grad CE(w)``, with the gradient's own graph kept, so
the final parameters differentiate with respect to the images and the learnable ``lr`` (the
release's ``ReparamModule`` loop, written with ``torch.func.functional_call``). With soft labels
(TESLA's expert labels) the step's loss is the given ``loss`` on ``(N, K)`` target logits instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dcl.networks.flat import flatten_parameters, parameter_shapes, unflatten_parameters

__all__ = [
    "Loss",
    "flatten_parameters",
    "minibatches",
    "parameter_shapes",
    "unflatten_parameters",
    "unroll",
]

Augment = Callable[[Tensor], Tensor]
# A student step's loss: (logits, the batch's targets) -> scalar; F.cross_entropy by default.
Loss = Callable[[Tensor, Tensor], Tensor]


def minibatches(
    n: int, batch: int, steps: int, generator: torch.Generator | None, device: torch.device
) -> list[Tensor]:
    """Indices of the synthetic images each of ``steps`` student steps trains on.

    As the release: a fresh random permutation of the ``n`` images is split into chunks of
    ``batch`` (the last one shorter), and the chunks are used last first until none is left.

    Returns:
        ``steps`` index tensors on ``device``.
    """
    chunks: list[Tensor] = []
    out = []
    for _ in range(steps):
        if not chunks:
            where = generator.device if generator is not None else "cpu"
            perm = torch.randperm(n, generator=generator, device=where).to(device)
            chunks = list(perm.split(batch))
        out.append(chunks.pop())
    return out


def step_gradient(
    net: nn.Module,
    shapes: dict[str, torch.Size],
    w: Tensor,
    x: Tensor,
    y: Tensor,
    loss: Loss,
    create_graph: bool,
) -> Tensor:
    """``(P,)`` the gradient of one student step's loss at flat parameters ``w`` (requires grad)."""
    out = torch.func.functional_call(net, unflatten_parameters(shapes, w), (x,))
    (grad,) = torch.autograd.grad(loss(out, y), w, create_graph=create_graph)
    return grad


def unroll(
    net: nn.Module,
    start: Tensor,
    images: Tensor,
    labels: Tensor,
    lr: Tensor,
    steps: int,
    batch_syn: int | None = None,
    augment: Augment | None = None,
    generator: torch.Generator | None = None,
    create_graph: bool = True,
    loss: Loss = F.cross_entropy,
) -> Tensor:
    """Train a student from ``start`` for ``steps`` SGD steps on the synthetic set.

    Args:
        net: The student's architecture; its own parameter values are not used (each call
            substitutes the student's), its buffers (batch-norm statistics) are.
        start: ``(P,)`` the initial flat parameters (an expert's, at the start epoch).
        images: ``(N, C, H, W)`` the synthetic images (differentiable).
        labels: ``(N,)`` their labels, or ``(N, K)`` targets of ``loss`` (soft-label logits).
        lr: Scalar tensor, the student's learning rate (MTT learns it).
        steps: Number of student steps (MTT's ``syn_steps``).
        batch_syn: Images per step; ``None``: the whole set every step.
        augment: Applied to each step's batch (MTT: DSA, parameters drawn per image).
        generator: Draws the minibatch permutations.
        create_graph: Keep every step's graph so the result differentiates with respect to
            ``images`` and ``lr`` (the memory grows linearly in ``steps``); ``False`` trains
            without it (evaluation of a set).
        loss: Each step's loss of ``(logits, labels[batch])``; default cross-entropy.

    Returns:
        ``(P,)`` the student's flat parameters after the last step.
    """
    shapes = parameter_shapes(net)
    n = images.shape[0]
    batches = minibatches(n, batch_syn or n, steps, generator, images.device)
    w = start if start.requires_grad else start.detach().requires_grad_(True)
    for idx in batches:
        x, y = images[idx], labels[idx]
        if augment is not None:
            x = augment(x)
        grad = step_gradient(net, shapes, w, x, y, loss, create_graph)
        w = w - lr * grad
        if not create_graph:
            w = w.detach().requires_grad_(True)
    return w
