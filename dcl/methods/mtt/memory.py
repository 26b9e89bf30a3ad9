r"""MTT's student at the memory of one student step: TESLA's gradient, and an exact one.

``unroll`` (``student``) keeps the graph of every one of its ``N`` SGD steps, so memory grows
linearly in ``N``. The two functions here return the same final parameters (the same forward,
bit for bit) through a ``torch.autograd.Function`` whose forward keeps no graph; its backward
recomputes one step's graph at a time. Write ``w_{i+1} = w_i - lr g_i`` with
``g_i = grad_w CE(w_i; aug_i(X[b_i]))``, ``w_N = w_0 - lr sum_i g_i``, ``a = dL/dw_N`` and
``H_i = dg_i/dw_i`` (the Hessian of step ``i``'s loss).

- ``constant_unroll``, TESLA (Cui et al., ICML 2023): back-propagates ``a`` into each ``g_i``
  separately, as if ``g_i`` depended on the images only through step ``i``'s batch:
  ``dL/dX = -lr sum_i (dg_i/dX)^T a`` and ``dL/dlr = -(sum_i g_i) . a``. The unrolled gradient
  carries ``lambda_{i+1} = (I - lr H_{i+1}) ... (I - lr H_{N-1}) a`` where TESLA has ``a``: it
  drops the dependence of later ``g_j`` on earlier images through ``w_j`` (the Hessian chain),
  so it is an approximation, exact for ``N = 1`` only (the paper calls it exact; its release
  computes the formula above). Memory: one step's graph and two ``(P,)`` vectors, whatever
  ``N``; the backward recomputes each step's parameters in forward order instead of keeping them.
- ``checkpointed_unroll``: the exact unrolled gradient. The forward keeps the ``N`` flat
  parameter vectors ``w_i`` (``N x P`` numbers, no activations); the backward walks the steps in
  reverse, carrying the adjoint ``lambda_i = lambda_{i+1} - lr H_i lambda_{i+1}`` through one
  Hessian-vector product per step: ``dL/dX = -lr sum_i (dg_i/dX)^T lambda_{i+1}``,
  ``dL/dlr = -sum_i g_i . lambda_{i+1}``.

Both recompute each step's forward once more than ``unroll`` (about one more forward and
backward of the network per step). The recomputed step sees the same minibatch (the indices
drawn once, up front, as ``unroll`` draws them) and the same augmentation: the forward records
``generator``'s state before each step's ``augment`` call and the backward restores it, so
``augment`` must draw its randomness from ``generator`` only (MTT's per-image DSA does); the
generator is left where the forward left it. ``start`` gets no gradient (an expert's
parameters). Batch-norm running statistics, if the network has them, are updated twice per step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from dcl.methods.mtt.student import (
    Augment,
    Loss,
    minibatches,
    parameter_shapes,
    step_gradient,
)


@dataclasses.dataclass
class Replay:
    """What recomputes student step ``i`` exactly as the forward pass ran it.

    Attributes:
        net: The student's architecture (its parameter values are substituted).
        labels: ``(N,)`` labels of the synthetic images, or ``(N, K)`` targets of ``loss``.
        batches: Index tensor of each step's minibatch.
        augment: Applied to each step's batch, or ``None``.
        generator: The generator ``augment`` draws from (its state is replayed).
        loss: Each step's loss of ``(logits, labels[batch])`` (cross-entropy, or soft labels').
        states: ``generator``'s state before each step's ``augment`` call (filled by the forward).
    """

    net: nn.Module
    labels: Tensor
    batches: list[Tensor]
    augment: Augment | None
    generator: torch.Generator | None
    loss: Loss = F.cross_entropy
    states: list[Tensor] = dataclasses.field(default_factory=list)

    def gradient(self, w: Tensor, images: Tensor, i: int, create_graph: bool) -> Tensor:
        """``(P,)`` the gradient of step ``i``'s loss at parameters ``w`` (requires grad)."""
        idx = self.batches[i]
        x = images[idx]
        if self.augment is not None:
            if self.generator is not None:
                if len(self.states) == i:  # the forward pass: remember the draws
                    self.states.append(self.generator.get_state())
                else:  # a recomputation: the same draws again
                    self.generator.set_state(self.states[i])
            x = self.augment(x)
        shapes = parameter_shapes(self.net)
        return step_gradient(self.net, shapes, w, x, self.labels[idx], self.loss, create_graph)


class _Student(torch.autograd.Function):
    """``w_N`` with no graph kept; the backward recomputes one step's graph at a time."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, images: Tensor, lr: Tensor, start: Tensor, replay: Replay, exact: bool
    ) -> Tensor:
        x = images.detach()
        w = start.detach()
        kept, total = [], torch.zeros_like(w)
        for i in range(len(replay.batches)):
            if exact:
                kept.append(w)
            with torch.enable_grad():
                g = replay.gradient(w.requires_grad_(True), x, i, create_graph=False)
            w = w.detach() - lr * g  # the same operation as unroll's step: the same values
            total += g
        # Record the state after the forward: the backward's replays must not move it.
        end_state = replay.generator.get_state() if replay.generator is not None else None
        saved = torch.stack(kept) if exact else total  # exact: (N, P); TESLA: (P,)
        ctx.save_for_backward(images, lr, start, saved)
        ctx.replay, ctx.exact, ctx.end_state = replay, exact, end_state  # type: ignore[attr-defined]
        return w

    @staticmethod
    def backward(ctx: Any, a: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        images, lr, start, saved = ctx.saved_tensors
        replay: Replay = ctx.replay
        want_x, want_lr = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        x = images.detach().requires_grad_(want_x)
        lr_value = lr.detach()
        dx = torch.zeros_like(x) if want_x else None
        dlr = torch.zeros_like(lr_value)
        if ctx.exact:  # reverse order, carrying the adjoint through H_i (one HVP per step)
            lam = a
            for i in reversed(range(len(replay.batches))):
                with torch.enable_grad():
                    w = saved[i].detach().requires_grad_(True)
                    g = replay.gradient(w, x, i, create_graph=True)
                    inputs = [w, x] if want_x else [w]
                    grads = torch.autograd.grad(g, inputs, grad_outputs=lam)
                if dx is not None:
                    dx += grads[1]
                dlr -= g.detach() @ lam
                lam = lam - lr_value * grads[0]
        else:  # TESLA: every g_i gets a itself; steps recomputed in forward order, w_i not kept
            w = start.detach()
            for i in range(len(replay.batches)):
                with torch.enable_grad():
                    g = replay.gradient(w.requires_grad_(True), x, i, create_graph=want_x)
                    if dx is not None:
                        dx += torch.autograd.grad(g, x, grad_outputs=a)[0]
                w = w.detach() - lr_value * g.detach()
            dlr = -(saved @ a)
        if ctx.end_state is not None:
            replay.generator.set_state(ctx.end_state)
        grad_images = -lr_value * dx if dx is not None else None
        return grad_images, dlr.reshape(lr.shape) if want_lr else None, None, None, None


def _run(
    net: nn.Module,
    start: Tensor,
    images: Tensor,
    labels: Tensor,
    lr: Tensor,
    steps: int,
    batch_syn: int | None,
    augment: Augment | None,
    generator: torch.Generator | None,
    exact: bool,
    loss: Loss,
) -> Tensor:
    if augment is not None and generator is None:
        raise ValueError(
            "Recomputing a student step needs the augmentation's draws again: pass the "
            "generator that `augment` draws from."
        )
    n = images.shape[0]
    batches = minibatches(n, batch_syn or n, steps, generator, images.device)
    replay = Replay(net, labels, batches, augment, generator, loss)
    return _Student.apply(images, lr, start, replay, exact)


def constant_unroll(
    net: nn.Module,
    start: Tensor,
    images: Tensor,
    labels: Tensor,
    lr: Tensor,
    steps: int,
    batch_syn: int | None = None,
    augment: Augment | None = None,
    generator: torch.Generator | None = None,
    loss: Loss = F.cross_entropy,
) -> Tensor:
    """``unroll``'s final parameters, differentiated with TESLA's gradient at constant memory.

    The value equals ``unroll``'s; the gradient is TESLA's approximation (module docstring):
    each step's gradient gets ``dL/dw_N`` itself, the Hessian chain between steps is dropped.

    Args:
        net: The student's architecture (parameter values substituted, buffers used).
        start: ``(P,)`` the initial flat parameters (no gradient flows to them).
        images: ``(N, C, H, W)`` the synthetic images.
        labels: ``(N,)`` their labels, or ``(N, K)`` targets of ``loss`` (soft-label logits).
        lr: Scalar tensor, the student's learning rate.
        steps: Number of student steps.
        batch_syn: Images per step; ``None``: the whole set every step.
        augment: Applied to each step's batch; must draw only from ``generator``.
        generator: Draws the minibatches and (replayed) the augmentation.
        loss: Each step's loss of ``(logits, labels[batch])``; default cross-entropy.

    Returns:
        ``(P,)`` the student's parameters after the last step.

    Raises:
        ValueError: ``augment`` without ``generator`` (its draws could not be replayed).
    """
    return _run(net, start, images, labels, lr, steps, batch_syn, augment, generator, False, loss)


def checkpointed_unroll(
    net: nn.Module,
    start: Tensor,
    images: Tensor,
    labels: Tensor,
    lr: Tensor,
    steps: int,
    batch_syn: int | None = None,
    augment: Augment | None = None,
    generator: torch.Generator | None = None,
    loss: Loss = F.cross_entropy,
) -> Tensor:
    """``unroll``'s final parameters and exact gradient, keeping ``steps`` flat vectors only.

    Arguments, return value and errors as ``constant_unroll``; the gradient equals ``unroll``'s
    (to rounding), its memory is one step's graph plus ``steps x P`` numbers.
    """
    return _run(net, start, images, labels, lr, steps, batch_syn, augment, generator, True, loss)
