import inspect
import math
import random

import pytest

import dcl.applications.ranking as ranking
from dcl.applications.ranking import average_ranks, spearman, top_k, top_k_overlap


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 2]) == [3.0, 1.0, 2.0]
    assert average_ranks([5, 5, 5]) == [2.0, 2.0, 2.0]


def test_spearman_without_ties_matches_the_textbook_formula():
    # Ranks of y: 2 1 4 3 5 -> sum d^2 = 4 -> 1 - 6 * 4 / (5 * 24) = 0.8.
    assert spearman([10, 20, 30, 40, 50], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def test_spearman_with_ties_hand_computed():
    # Ranks x: 1 2 3 4 5; ranks y (7 twice): 1 2 3.5 5 3.5. Centered: (-2 -1 0 1 2) and
    # (-2 -1 .5 2 .5): sum xy = 8, sum xx = 10, sum yy = 9.5 -> 8 / sqrt(95).
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_spearman_extremes_and_monotone_invariance():
    x = [0.3, 1.2, -4.0, 2.5, 0.0]
    assert spearman(x, [math.exp(v) for v in x]) == pytest.approx(1.0)
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, [1.0] * 5))
    with pytest.raises(ValueError, match="length"):
        spearman([1, 2], [1, 2, 3])


def test_spearman_is_scipy_free_and_agrees_with_scipy():
    assert "scipy" not in inspect.getsource(ranking)
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(5):
        x = [rng.randint(0, 5) for _ in range(12)]  # many ties
        y = [rng.random() for _ in range(12)]
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_top_k_overlap():
    proxy, true = [0.9, 0.8, 0.1, 0.5], [0.7, 0.2, 0.6, 0.9]
    assert top_k(proxy, 2) == [0, 1] and top_k(true, 2) == [3, 0]
    assert top_k_overlap(proxy, true, 1) == 0.0
    assert top_k_overlap(proxy, true, 2) == 0.5
    assert top_k_overlap(proxy, true, 3) == pytest.approx(2 / 3)
    assert top_k_overlap(proxy, true, 10) == 1.0  # k clipped to the 4 candidates
    with pytest.raises(ValueError):
        top_k_overlap(proxy, true, 0)
