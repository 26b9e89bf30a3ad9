"""Matching objectives as pure functions over tensors: the papers' equations in code.

Every function takes a leading class axis ``K`` and returns one distance per class, so the same
code serves one class (``K = 1``) and all classes at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Metric = Literal["ours", "mse", "cos"]
METRICS: tuple[str, ...] = ("ours", "mse", "cos")
EPS = 1e-6


def layerwise_cosine_distance(g_real: Tensor, g_syn: Tensor) -> Tensor:
    """DC's per-layer distance ("ours") for one parameter tensor, per class.

    Args:
        g_real: ``(K, out, ...)`` gradients of one parameter tensor on real data, per class.
        g_syn: Same shape, on synthetic data.

    Returns:
        ``(K,)``: sum over output rows of ``1 - cos``; 1-D parameters (biases, norm affines) give 0.
    """
    if g_real.ndim <= 2:  # (K, out): a bias or norm affine
        return g_real.new_zeros(g_real.shape[0])
    gr = g_real.flatten(2)  # (K, out, rest): conv out x in*k*k, linear as is, LayerNorm C x H*W
    gs = g_syn.flatten(2)
    cos = (gr * gs).sum(-1) / (gr.norm(dim=-1) * gs.norm(dim=-1) + EPS)  # (K, out)
    return (1 - cos).sum(-1)


def gradient_distance(
    g_real: Sequence[Tensor], g_syn: Sequence[Tensor], metric: Metric = "ours"
) -> Tensor:
    """Distance between real and synthetic gradients of all parameter tensors, per class.

    Args:
        g_real: One ``(K, *param_shape)`` tensor per network parameter (real-data gradients).
        g_syn: Matching synthetic-data gradients.
        metric: ``ours`` (per-layer, per-row cosine), ``mse`` (squared error of all gradients)
            or ``cos`` (cosine of the whole flattened gradient vectors).

    Returns:
        ``(K,)`` distances; the matching loss is their sum.
    """
    if metric == "ours":
        return sum(layerwise_cosine_distance(r, s) for r, s in zip(g_real, g_syn, strict=True))
    gr = torch.cat([g.flatten(1) for g in g_real], 1)  # (K, P)
    gs = torch.cat([g.flatten(1) for g in g_syn], 1)
    if metric == "mse":
        return ((gr - gs) ** 2).sum(1)
    if metric == "cos":
        return 1 - (gr * gs).sum(1) / (gr.norm(dim=1) * gs.norm(dim=1) + EPS)
    raise ValueError(f"Unknown gradient distance '{metric}'; choose one of {', '.join(METRICS)}.")


def mean_embedding_distance(real_emb: Tensor, syn_emb: Tensor) -> Tensor:
    """DM's loss: squared distance between mean embeddings (linear-kernel MMD), per class.

    Args:
        real_emb: ``(K, n, D)`` embeddings of ``n`` real images per class.
        syn_emb: ``(K, m, D)`` embeddings of ``m`` synthetic images per class.

    Returns:
        ``(K,)`` values of ``|| mean_n real - mean_m syn ||^2``; the DM loss is their sum.
    """
    return ((real_emb.mean(1) - syn_emb.mean(1)) ** 2).sum(-1)
