import inspect
import math
import random

import pytest

import dcl.applications.ranking as ranking
from dcl.applications.ranking import average_ranks, pearson, spearman, top_k, top_k_overlap

# torchmetrics' Spearman is short of the exact value by at most 4e-6 (see ``spearman``).
SPEARMAN_TOL = 2e-5


def reference_ranks(values):
    """Average 1-based ranks, the obvious way: the mean position of a value in sorted order."""
    ordered = sorted(values)
    return [sum(i + 1 for i, w in enumerate(ordered) if w == v) / ordered.count(v) for v in values]


def reference_pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def draws(seed, n=12):
    rng = random.Random(seed)
    x = [rng.randint(0, 5) for _ in range(n)]  # many ties
    y = [rng.choice([rng.random(), 0.5]) for _ in range(n)]  # a few ties
    return x, y


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 2]) == [3.0, 1.0, 2.0]
    assert average_ranks([5, 5, 5]) == [2.0, 2.0, 2.0]
    for seed in range(5):
        x, y = draws(seed)
        assert average_ranks(x) == reference_ranks(x) and average_ranks(y) == reference_ranks(y)


def test_spearman_without_ties_matches_the_textbook_formula():
    # Ranks of y: 2 1 4 3 5 -> sum d^2 = 4 -> 1 - 6 * 4 / (5 * 24) = 0.8.
    assert spearman([10, 20, 30, 40, 50], [2, 1, 4, 3, 5]) == pytest.approx(0.8, abs=SPEARMAN_TOL)


def test_spearman_with_ties_hand_computed():
    # Ranks x: 1 2 3 4 5; ranks y (7 twice): 1 2 3.5 5 3.5. Centered: (-2 -1 0 1 2) and
    # (-2 -1 .5 2 .5): sum xy = 8, sum xx = 10, sum yy = 9.5 -> 8 / sqrt(95).
    rho = spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
    assert rho == pytest.approx(8 / math.sqrt(95), abs=SPEARMAN_TOL)


def test_spearman_is_pearson_of_average_ranks():
    for seed in range(10):
        x, y = draws(seed)
        expected = reference_pearson(reference_ranks(x), reference_ranks(y))
        assert spearman(x, y) == pytest.approx(expected, abs=SPEARMAN_TOL)


def test_pearson_matches_the_formula_in_float64():
    # x centered -2..2, y centered -1.6 -.6 .4 1.4 .4: sum xy = 6, sum xx = 10, sum yy = 5.2.
    assert pearson([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(6 / math.sqrt(52), rel=1e-12)
    for seed in range(5):
        x, y = draws(seed)
        assert pearson(x, y) == pytest.approx(reference_pearson(x, y), rel=1e-12)
    assert math.isnan(pearson([1, 2, 3], [4, 4, 4]))


def test_spearman_extremes_and_monotone_invariance():
    x = [0.3, 1.2, -4.0, 2.5, 0.0]
    assert spearman(x, [math.exp(v) for v in x]) == pytest.approx(1.0, abs=SPEARMAN_TOL)
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0, abs=SPEARMAN_TOL)
    assert spearman([1, 2], [3, 4]) == pytest.approx(1.0, abs=SPEARMAN_TOL)
    assert math.isnan(spearman(x, [1.0] * 5)) and math.isnan(spearman([2.0] * 5, x))
    with pytest.raises(ValueError, match="length"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least two"):
        pearson([1], [2])


def test_spearman_is_scipy_free_and_agrees_with_scipy():
    assert "scipy" not in inspect.getsource(ranking)
    stats = pytest.importorskip("scipy.stats")
    for seed in range(5):
        x, y = draws(seed)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=SPEARMAN_TOL)


def test_top_k_overlap():
    proxy, true = [0.9, 0.8, 0.1, 0.5], [0.7, 0.2, 0.6, 0.9]
    assert top_k(proxy, 2) == [0, 1] and top_k(true, 2) == [3, 0]
    assert top_k_overlap(proxy, true, 1) == 0.0
    assert top_k_overlap(proxy, true, 2) == 0.5
    assert top_k_overlap(proxy, true, 3) == pytest.approx(2 / 3)
    assert top_k_overlap(proxy, true, 10) == 1.0  # k clipped to the 4 candidates
    with pytest.raises(ValueError):
        top_k_overlap(proxy, true, 0)
