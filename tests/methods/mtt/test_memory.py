"""The student at constant memory: TESLA's gradient and the exact checkpointed one, in float64."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from dcl.augmentation import DSA
from dcl.methods import MTT
from dcl.methods.mtt.memory import checkpointed_unroll, constant_unroll
from dcl.methods.mtt.student import (
    flatten_parameters,
    minibatches,
    parameter_shapes,
    unflatten_parameters,
    unroll,
)
from dcl.networks import build_network
from dcl.objectives import trajectory_distance

LR, BATCH, SEED = 0.05, 4, 3
NET = build_network("ConvNetD1", 1, 3, 8, generator=torch.Generator().manual_seed(1)).double()
_g = torch.Generator().manual_seed(0)
START = flatten_parameters(NET) + 0.05 * torch.randn(flatten_parameters(NET).shape, generator=_g)
TARGET = START + 0.05 * torch.randn(START.shape, generator=_g, dtype=torch.float64)
IMAGES = torch.randn(6, 1, 8, 8, generator=_g, dtype=torch.float64)
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
DSA_ = DSA()


def ce_gradient(w: Tensor, x: Tensor, y: Tensor, create_graph: bool) -> Tensor:
    """The cross-entropy gradient of one student step at flat parameters ``w``."""
    out = torch.func.functional_call(NET, unflatten_parameters(parameter_shapes(NET), w), (x,))
    return torch.autograd.grad(F.cross_entropy(out, y), w, create_graph=create_graph)[0]


def tesla_reference(net, start, images, labels, lr, steps, batch, augment, generator):
    """TESLA's formula the obvious way: w_N = start - lr sum g_i, each g_i's graph reaching the
    images of its own step only (w_i enters as a constant), all graphs kept at once."""
    total, w = torch.zeros_like(start), start
    for idx in minibatches(len(labels), batch, steps, generator, images.device):
        x = augment(images[idx]) if augment is not None else images[idx]
        g = ce_gradient(w.detach().requires_grad_(True), x, labels[idx], create_graph=True)
        total = total + g
        w = w.detach() - lr.detach() * g.detach()
    return start - lr * total


def run(fn: Callable, steps: int, augmented: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Loss and gradients (images, lr) of one student run by ``fn``, with fresh equal draws."""
    images = IMAGES.clone().requires_grad_(True)
    lr = torch.tensor(LR, dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(SEED)
    augment = (lambda x: DSA_.per_image(x, g)) if augmented else None  # draws from g, as MTT's
    end = fn(NET, START, images, LABELS, lr, steps, BATCH, augment, g)
    loss = trajectory_distance(end, START, TARGET)
    return (loss.detach(), *torch.autograd.grad(loss, [images, lr]))


def rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.numerics
@pytest.mark.parametrize("augmented", [False, True], ids=["plain", "dsa"])
@pytest.mark.parametrize("steps", [1, 3])
def test_same_loss_exact_checkpointed_gradient_and_tesla_as_its_formula(steps, augmented):
    loss, *unrolled = run(unroll, steps, augmented)
    c_loss, *tesla = run(constant_unroll, steps, augmented)
    k_loss, *exact = run(checkpointed_unroll, steps, augmented)
    ref_loss, *reference = run(tesla_reference, steps, augmented)
    assert torch.equal(c_loss, loss) and torch.equal(k_loss, loss)  # the same forward, bit for bit
    torch.testing.assert_close(ref_loss, loss, rtol=1e-12, atol=0)
    for t, e, r, u in zip(tesla, exact, reference, unrolled, strict=True):
        assert torch.isfinite(t).all() and t.abs().sum() > 0  # gradients reach images and lr
        assert rel(e, u) < 1e-9  # checkpointed: the unrolled gradient
        assert rel(t, r) < 1e-12  # constant: TESLA's formula
        if steps == 1:  # one step: no Hessian chain to drop, TESLA is exact
            assert rel(t, u) < 1e-12
        else:  # the dropped chain is a first-order change here (lr 0.05, 3 steps)
            assert rel(t, u) > 1e-3


@pytest.mark.numerics
def test_tesla_misses_exactly_the_hessian_term_the_maths_predicts_at_two_steps():
    """N = 2: unrolled - TESLA = lr^2 (dg_0/dX)^T H_1 a for the images, lr g_0 . H_1 a for lr."""
    _, *unrolled = run(unroll, 2, False)
    _, *tesla = run(constant_unroll, 2, False)
    images = IMAGES.clone().requires_grad_(True)
    lr = torch.tensor(LR, dtype=torch.float64)
    idx = minibatches(6, BATCH, 2, torch.Generator().manual_seed(SEED), images.device)
    w0 = START.clone().requires_grad_(True)
    g0 = ce_gradient(w0, images[idx[0]], LABELS[idx[0]], create_graph=True)
    w1 = (START - lr * g0.detach()).requires_grad_(True)
    g1 = ce_gradient(w1, images[idx[1]].detach(), LABELS[idx[1]], create_graph=True)
    w2 = w1.detach() - lr * g1.detach()
    a = 2 * (w2 - TARGET) / ((START - TARGET) ** 2).sum()  # dL/dw_N of trajectory_distance
    h1a = torch.autograd.grad(g1, w1, grad_outputs=a)[0]
    images_term = lr**2 * torch.autograd.grad(g0, images, grad_outputs=h1a)[0]
    lr_term = lr * (g0.detach() @ h1a)
    torch.testing.assert_close(unrolled[0] - tesla[0], images_term, rtol=1e-9, atol=1e-15)
    torch.testing.assert_close(unrolled[1] - tesla[1], lr_term, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("fn", [constant_unroll, checkpointed_unroll])
def test_the_generator_ends_where_the_unrolled_run_leaves_it(fn):
    after = []
    for f in (unroll, fn):
        images = IMAGES.clone().requires_grad_(True)
        g = torch.Generator().manual_seed(SEED)
        augment = lambda x, g=g: DSA_.per_image(x, g)  # noqa: E731
        end = f(NET, START, images, LABELS, torch.tensor(LR), 3, BATCH, augment, g)
        trajectory_distance(end, START, TARGET).backward()
        after.append(g.get_state())
    assert torch.equal(*after)


def test_augmentation_without_its_generator_and_unknown_memory_are_refused():
    with pytest.raises(ValueError, match="generator"):
        constant_unroll(NET, START, IMAGES, LABELS, torch.tensor(LR), 2, None, lambda x: x)
    with pytest.raises(ValueError, match="memory one of unrolled, constant, checkpointed"):
        MTT(memory="tiny")
