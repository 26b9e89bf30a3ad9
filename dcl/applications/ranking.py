"""Rank statistics for comparing architecture rankings: Spearman correlation and top-k overlap.

Pure Python (no SciPy): the inputs are a few dozen accuracies, one per candidate network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values`` in ascending order, tied values sharing their average rank.

    Example: ``[10, 20, 20, 30]`` -> ``[1.0, 2.5, 2.5, 4.0]``.
    """
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        stop = start
        while stop + 1 < len(order) and values[order[stop + 1]] == values[order[start]]:
            stop += 1
        shared = (start + stop) / 2 + 1  # mean of the 1-based positions start..stop
        for position in range(start, stop + 1):
            ranks[order[position]] = shared
        start = stop + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences; ``nan`` if either is constant."""
    if len(x) != len(y):
        raise ValueError(f"sequences differ in length: {len(x)} and {len(y)}")
    if len(x) < 2:
        raise ValueError("a correlation needs at least two pairs")
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson correlation of the average ranks (ties handled).

    Without ties this equals ``1 - 6 * sum(d^2) / (n * (n^2 - 1))``. Returns ``nan`` when one
    side is constant (no ranking to compare).

    Args:
        x: One score per candidate (e.g. proxy accuracy).
        y: The matching scores to compare with (e.g. full-data accuracy).

    Returns:
        The correlation in [-1, 1] (or ``nan``).
    """
    return pearson(average_ranks(x), average_ranks(y))


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
