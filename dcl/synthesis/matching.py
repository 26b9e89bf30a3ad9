"""One matching loss evaluation per method: networks and augmentation around the pure objectives."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from dcl.calls import Forward, embed, logits
from dcl.networks import has_batchnorm
from dcl.objectives import Metric, gradient_distance, mean_embedding_distance
from dcl.synthesis.gradients import class_gradients, class_gradients_loop

# Applies one transform per class to both tensors: (real, syn) -> (real, syn).
Siamese = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def dm_loss(
    net: nn.Module,
    real: Tensor,
    syn: Tensor,
    augment: Siamese | None = None,
    class_chunk: int = 0,
    forward: Forward = embed,
) -> Tensor:
    """Distribution matching loss summed over classes.

    Args:
        net: Randomly initialised network with ``embed``; its weights receive no gradient.
        real: ``(K, n, C, H, W)`` real images per class.
        syn: ``(K, m, C, H, W)`` synthetic images per class (requires grad).
        augment: Siamese augmentation (same transform for a class's real and synthetic images).
        class_chunk: Classes per network forward, real and synthetic (0: all at once). The
            same loss for per-sample normalisation; smaller chunks measured faster on CPU
            (activations stay in cache), one big forward is best on GPU. Batch-norm networks
            need 0 (the published mixed forward).
        forward: Computes embeddings (default ``embed``; a compiled version is the same loss).

    Returns:
        Scalar loss.
    """
    if augment is not None:
        real, syn = augment(real, syn)
    chunk = class_chunk or real.shape[0]
    with torch.inference_mode():  # real embeddings are constants of the objective
        real_emb = _per_class(forward, net, real, chunk)  # (K, n, D)
    syn_emb = _per_class(forward, net, syn, chunk)  # (K, m, D)
    return mean_embedding_distance(real_emb, syn_emb).sum()


def class_chunk_for(net: nn.Module, device: torch.device, requested: int | None = None) -> int:
    """DM's classes per forward: ``requested``, else 1 on CPU and all (0) on GPU.

    Batch-norm networks always get all classes at once (the published mixed forward). One class
    at a time measured faster on CPU (activations stay in cache).
    """
    if has_batchnorm(net):
        return 0
    if requested is not None:
        return requested
    return 0 if device.type == "cuda" else 1


def _per_class(forward: Forward, net: nn.Module, x: Tensor, chunk: int) -> Tensor:
    """``(K, n, C, H, W)`` images -> ``(K, n, D)`` float32 embeddings, ``chunk`` classes a call."""
    k, n = x.shape[:2]
    parts = [forward(net, c.flatten(0, 1)) for c in x.split(chunk)]
    # float32 for the distance even under bf16 autocast: it is a difference of means.
    return at_least_float32(torch.cat(parts).view(k, n, -1))


def dc_loss(
    net: nn.Module,
    real: Tensor,
    syn: Tensor,
    classes: Tensor,
    metric: Metric = "ours",
    augment: Siamese | None = None,
    batched: bool = True,
    real_forward: Forward = logits,
) -> Tensor:
    """Gradient matching loss summed over classes.

    Args:
        net: Network whose parameter gradients are matched (batch norm already in eval mode).
        real: ``(K, n, C, H, W)`` real images per class.
        syn: ``(K, m, C, H, W)`` synthetic images per class (requires grad).
        classes: ``(K,)`` class labels of the rows.
        metric: Gradient distance: ours, mse or cos.
        augment: Siamese augmentation shared by a class's real and synthetic batch.
        batched: All classes in one ``vmap``-ed computation (else a loop, the reference).
        real_forward: Logits of real images in the loop (e.g. compiled); the synthetic side
            stays eager because it needs a double backward.

    Returns:
        Scalar loss.
    """
    if augment is not None:
        real, syn = augment(real, syn)
    y_real = classes[:, None].expand(-1, real.shape[1])
    y_syn = classes[:, None].expand(-1, syn.shape[1])
    if batched:
        g_real = class_gradients(net, real, y_real, create_graph=False)
        g_syn = class_gradients(net, syn, y_syn, create_graph=True)
    else:
        g_real = class_gradients_loop(net, real, y_real, False, real_forward)
        g_syn = class_gradients_loop(net, syn, y_syn, create_graph=True)
    return gradient_distance(g_real, g_syn, metric).sum()


def at_least_float32(x: Tensor) -> Tensor:
    """At least float32 (half-precision activations under autocast are promoted)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def set_batchnorm_eval(net: nn.Module) -> None:
    """Freeze batch-norm statistics (DC matches gradients with fixed running statistics)."""
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
