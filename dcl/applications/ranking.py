"""Rank statistics for comparing architecture rankings: Spearman and Pearson correlation, top-k.

The correlations are torchmetrics' (``spearman_corrcoef``, ``pearson_corrcoef``) on float64
tensors; the inputs are a few dozen accuracies, one per candidate network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.functional import pearson_corrcoef, spearman_corrcoef


def _pairs(x: Sequence[float], y: Sequence[float]) -> tuple[Tensor, Tensor]:
    """``x`` and ``y`` as float64 tensors, checked to be equally long with at least two pairs."""
    if len(x) != len(y):
        raise ValueError(f"sequences differ in length: {len(x)} and {len(y)}")
    if len(x) < 2:
        raise ValueError(f"a correlation needs at least two pairs, got {len(x)}")
    return torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)


def _constant(*values: Tensor) -> bool:
    return any(bool((v == v[0]).all()) for v in values)


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values`` in ascending order, tied values sharing their average rank.

    Example: ``[10, 20, 20, 30]`` -> ``[1.0, 2.5, 2.5, 4.0]``. ``spearman`` does not need it
    (torchmetrics ranks internally); it is kept for callers of ``dcl.applications``.
    """
    v = torch.as_tensor(values, dtype=torch.float64)
    # A value's average rank: the values below it, plus the middle of its block of ties.
    below, tied = (v[:, None] > v).sum(1), (v[:, None] == v).sum(1)
    return (below + (tied + 1) / 2).tolist()


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences (float64); ``nan`` if either is constant.

    Raises:
        ValueError: If the lengths differ or there are fewer than two pairs.
    """
    tx, ty = _pairs(x, y)
    if _constant(tx, ty):  # undefined; torchmetrics would warn, then give nan too
        return math.nan
    return float(pearson_corrcoef(tx, ty))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson correlation of the average ranks (ties handled).

    Without ties this equals ``1 - 6 * sum(d^2) / (n * (n^2 - 1))``. Returns ``nan`` when one
    side is constant (no ranking to compare; torchmetrics alone would say 0).

    torchmetrics ranks in float32 and adds 1e-6 to the product of the rank standard deviations
    (each at least 1/2), so a correlation comes out up to 4e-6 smaller in magnitude than the
    exact value (two candidates in the same order: 0.999996), far below the three decimals the
    search reports.

    Args:
        x: One score per candidate (e.g. proxy accuracy).
        y: The matching scores to compare with (e.g. full-data accuracy).

    Returns:
        The correlation in [-1, 1] (or ``nan``).

    Raises:
        ValueError: If the lengths differ or there are fewer than two pairs.
    """
    tx, ty = _pairs(x, y)
    if _constant(tx, ty):
        return math.nan
    return float(spearman_corrcoef(tx, ty))


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores (ties broken by the lower index)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return order[:k]


def top_k_overlap(proxy: Sequence[float], true: Sequence[float], k: int) -> float:
    """``|top_k(proxy) & top_k(true)| / k``: how many of the truly best candidates a proxy finds.

    Args:
        proxy: Proxy score per candidate.
        true: True (full-data) score per candidate.
        k: How many top candidates to compare; clipped to the number of candidates.

    Returns:
        The overlap fraction in [0, 1].
    """
    if len(proxy) != len(true):
        raise ValueError(f"sequences differ in length: {len(proxy)} and {len(true)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(true))
    return len(set(top_k(proxy, k)) & set(top_k(true, k))) / k
