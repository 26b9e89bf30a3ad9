"""Per-class parameter gradients of the cross-entropy loss, for gradient matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.overrides import TorchFunctionMode

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
    autograd graph is recorded at all. Layer norm's affine runs as separate ops here (see
    ``_AffineOutsideLayerNorm``): vmap's own rule for it gives wrong image gradients.
    """
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}
    buffers = dict(net.named_buffers())
    frozen = {n: p.detach() for n, p in net.named_parameters() if not p.requires_grad}

    def loss(p: dict[str, Tensor], xc: Tensor, yc: Tensor) -> Tensor:
        return F.cross_entropy(functional_call(net, (p, frozen, buffers), (xc,)), yc)

    per_class = vmap(grad(loss), in_dims=(None, 0, 0), randomness="error")
    grad_mode = torch.set_grad_enabled(create_graph and torch.is_grad_enabled())
    with grad_mode, _AffineOutsideLayerNorm():
        g = per_class(params, x, y)
    return [g[n] for n in names]


class _AffineOutsideLayerNorm(TorchFunctionMode):
    """Runs ``F.layer_norm`` / ``torch.layer_norm`` as a plain layer norm, then ``* weight + bias``.

    Why: under ``vmap``, functorch's rule for ``native_layer_norm_backward``
    (``aten/src/ATen/functorch/BatchRulesNorm.cpp``) builds the weight gradient as
    ``((input - mean) * rstd * grad_out).sum()`` from the ``mean`` and ``rstd`` that
    ``native_layer_norm`` returned, and autograd treats those two outputs as constants
    (``derivatives.yaml`` gives them no formula). The per-class weight gradient is right, but its
    derivative w.r.t. the images (DC's double backward) lacks the terms through the mean and the
    variance: about 1e-2 relative error in float64 for ConvNetLN. Without an affine weight the rule
    is exact (the input gradient comes from ``native_layer_norm_backward`` itself, whose double
    backward is right), and with the affine as separate ops the weight gradient is ``grad_out``
    times the differentiable normalised output. Group norm's rule is built like layer norm's, but
    its statistics are differentiable, so it is exact as it is.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if func is F.layer_norm or func is torch.layer_norm:
            return _layer_norm(*args, **kwargs)
        return func(*args, **kwargs)


def _layer_norm(
    x: Tensor,
    normalized_shape: list[int] | tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    cudnn_enable: bool = True,  # noqa: ARG001 (``torch.layer_norm``'s flag)
) -> Tensor:
    """``F.layer_norm`` with the affine applied after the fused kernel, in that kernel's dtype.

    The result has ``F.layer_norm``'s dtype (float32 under CUDA autocast, else the input's) and
    value, up to rounding of the affine.
    """
    out = F.layer_norm(x, normalized_shape, None, None, eps)
    if weight is not None:
        out = out * weight.to(out.dtype)
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out
