"""Matching objectives as pure functions over tensors: the papers' equations in code.

Every function takes a leading class axis ``K`` and returns one distance per class, so the same
code serves one class (``K = 1``) and all classes at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
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


# --------------------------------------------------------------------------------------------
# DataDAM: spatial attention matching (Sajedi et al., ICCV 2023)
# --------------------------------------------------------------------------------------------
NORM_EPS = 1e-12  # F.normalize's floor on the norm, as the release's get_attention uses


def attention_map(features: Tensor, power: float = 1.0, nonnegative: bool = False) -> Tensor:
    """DataDAM's spatial attention map of each image, L2-normalised (the release's SAM module).

    Args:
        features: ``(K, n, C, H, W)`` one layer's feature maps of ``n`` images per class.
        power: Exponent ``p`` of ``sum_c |f_c|^p`` (the release runs ``p = 1``).
        nonnegative: The features are known to be ``>= 0`` (outputs of ReLU or sigmoid), so
            ``|f| = f``: the same values without a pass over the maps, and through those
            activations the same input gradients (both are 0 where ``f = 0``).

    Returns:
        ``(K, n, H*W)``: per image, ``a = sum_c |f_c|^p`` over channels, flattened and divided by
        ``max(||a||_2, 1e-12)``.
    """
    f = features if nonnegative else features.abs()
    a = (f if power == 1 else f.pow(power)).sum(2).flatten(2)  # (K, n, H*W)
    return a / a.norm(dim=-1, keepdim=True).clamp_min(NORM_EPS)


def attention_matching_distance(real_maps: Sequence[Tensor], syn_maps: Sequence[Tensor]) -> Tensor:
    """DataDAM's L_SAM: squared distance of mean attention maps, summed over layers, per class.

    Args:
        real_maps: One ``(K, n, H_l*W_l)`` tensor of ``attention_map``s of real images per layer.
        syn_maps: The matching ``(K, m, H_l*W_l)`` tensors of synthetic images.

    Returns:
        ``(K,)``: ``sum_l || mean_n real_l - mean_m syn_l ||^2``.
    """
    pairs = zip(real_maps, syn_maps, strict=True)
    return sum((mean_embedding_distance(r, s) for r, s in pairs), torch.zeros(()))


def attention_embedding_distance(
    real_maps: Sequence[Tensor],
    syn_maps: Sequence[Tensor],
    real_emb: Tensor,
    syn_emb: Tensor,
    task_balance: float = 0.01,
    scale: float = 100.0,
) -> Tensor:
    """DataDAM's loss per class: ``scale * (L_SAM + task_balance * L_MMD)``.

    Args:
        real_maps: Per layer, ``(K, n, H_l*W_l)`` attention maps of real images.
        syn_maps: Per layer, ``(K, m, H_l*W_l)`` attention maps of synthetic images.
        real_emb: ``(K, n, D)`` final-layer embeddings of the real images.
        syn_emb: ``(K, m, D)`` final-layer embeddings of the synthetic images.
        task_balance: ``lambda``, the weight of the embedding MMD (DM's distance).
        scale: The release multiplies both terms by 100 (with plain SGD the same as a 100 times
            larger image learning rate).

    Returns:
        ``(K,)`` distances; the DataDAM loss is their sum.
    """
    sam = attention_matching_distance(real_maps, syn_maps)
    return scale * (sam + task_balance * mean_embedding_distance(real_emb, syn_emb))


# ----------------------------------------------------- trajectory matching (MTT, CVPR 2022)
def trajectory_distance(student_end: Tensor, expert_start: Tensor, expert_end: Tensor) -> Tensor:
    """MTT's loss: the student's distance to the expert's target, relative to the expert's move.

    ``||student_end - expert_end||^2 / ||expert_start - expert_end||^2``, each sum over every
    parameter of the network at once (the release concatenates all parameters into one flat
    vector and divides both sums by the same parameter count, which cancels). Unlike the
    functions above there is no class axis: the whole synthetic set trains one student.

    Args:
        student_end: ``(..., P)`` flat parameters of the student after its synthetic steps.
        expert_start: ``(..., P)`` the expert's parameters at the start epoch (where the student
            started).
        expert_end: ``(..., P)`` the expert's parameters ``expert_epochs`` later (the target).

    Returns:
        ``(...)``: one normalised distance per leading index; a scalar for ``(P,)`` vectors.
    """
    reached = ((student_end - expert_end) ** 2).sum(-1)  # (...,)
    moved = ((expert_start - expert_end) ** 2).sum(-1)  # (...,)
    return reached / moved


# ------------------------------------------------------- soft labels (knowledge distillation)
# DD-Ranking's default temperature of its KL loss (``ddranking.loss.KLDivergenceLoss``).
DEFAULT_TEMPERATURE = 1.2


def soft_label_loss(
    logits: Tensor, targets: Tensor, temperature: float = DEFAULT_TEMPERATURE, scale: bool = False
) -> Tensor:
    """KL divergence of the student's tempered softmax from the target logits' tempered softmax.

    ``KL(softmax(targets / T) || softmax(logits / T))`` summed over classes and averaged over the
    batch (``reduction="batchmean"``). The targets are logits (a teacher's outputs, or any
    unnormalised log-scores; log-probabilities are logits too), as DD-Ranking and SRe2L store
    and use them. Convention: no ``T^2`` factor by default, as DD-Ranking's
    ``KLDivergenceLoss(scale_loss=False)``; ``scale=True`` multiplies by ``T^2`` as Hinton et
    al., "Distilling the Knowledge in a Neural Network" (2015, section 2) do, so that the
    gradients keep their magnitude when ``T`` changes.

    Args:
        logits: ``(B, K)`` the trained network's logits.
        targets: ``(B, K)`` target logits; no gradient flows into them.
        temperature: ``T > 0``; 1 is plain distillation of the targets' softmax.
        scale: Multiply by ``T^2``.

    Returns:
        The scalar loss.
    """
    student = F.log_softmax(logits / temperature, dim=1)
    teacher = F.log_softmax(targets.detach().to(logits.dtype) / temperature, dim=1)
    loss = F.kl_div(student, teacher, reduction="batchmean", log_target=True)
    return loss * temperature**2 if scale else loss


def classification_loss(
    logits: Tensor, targets: Tensor, temperature: float = DEFAULT_TEMPERATURE
) -> Tensor:
    """Cross-entropy on ``(B,)`` integer labels; ``soft_label_loss`` on ``(B, K)`` float logits."""
    if targets.is_floating_point():
        return soft_label_loss(logits, targets, temperature)
    return F.cross_entropy(logits, targets)
