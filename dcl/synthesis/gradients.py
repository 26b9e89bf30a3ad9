"""Per-class parameter gradients of the cross-entropy loss, for gradient matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from dcl.calls import Forward, logits


def class_gradients_loop(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    create_graph: bool,
    forward: Forward = logits,
) -> list[Tensor]:
    """Reference: one forward and one ``autograd.grad`` per class.

    Args:
        net: Network; its parameters are differentiated.
        x: ``(K, n, C, H, W)`` images, class-major.
        y: ``(K, n)`` labels.
        create_graph: Keep the graph so the gradients can be differentiated w.r.t. ``x``.
        forward: ``(net, x) -> logits``, e.g. a compiled call.

    Returns:
        One ``(K, *param_shape)`` tensor per parameter.
    """
    params = [p for p in net.parameters() if p.requires_grad]
    per_class = []
    for xc, yc in zip(x, y, strict=True):
        loss = F.cross_entropy(forward(net, xc), yc)
        g = torch.autograd.grad(loss, params, create_graph=create_graph)
        per_class.append(g if create_graph else [t.detach() for t in g])
    return [torch.stack(gs) for gs in zip(*per_class, strict=True)]


def class_gradients(net: nn.Module, x: Tensor, y: Tensor, create_graph: bool) -> list[Tensor]:
    """All classes at once: ``vmap`` over classes of ``grad`` of a ``functional_call``.

    Same result as ``class_gradients_loop`` (batch norm must be in eval mode, as DC prescribes,
    so that a class's statistics do not depend on the others). Without ``create_graph`` no
    autograd graph is recorded at all.
    """
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}
    buffers = dict(net.named_buffers())
    frozen = {n: p.detach() for n, p in net.named_parameters() if not p.requires_grad}

    def loss(p: dict[str, Tensor], xc: Tensor, yc: Tensor) -> Tensor:
        return F.cross_entropy(functional_call(net, (p, frozen, buffers), (xc,)), yc)

    per_class = vmap(grad(loss), in_dims=(None, 0, 0), randomness="error")
    with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
        g = per_class(params, x, y)
    return [g[n] for n in names]
