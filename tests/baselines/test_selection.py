import pytest
import torch

from dcl.baselines.selection import (
    forgetting_scores,
    herding,
    k_center_greedy,
    most_forgotten,
    random_indices,
)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference_herding(x: torch.Tensor, k: int) -> list[int]:
    """The obvious double loop: try every unused point, keep the one whose mean is closest."""
    rows = x.double().tolist()
    n, d = len(rows), len(rows[0])
    mean = [sum(r[j] for r in rows) / n for j in range(d)]
    chosen: list[int] = []
    total = [0.0] * d
    for t in range(1, k + 1):
        best, best_dist = -1, float("inf")
        for i in range(n):
            if i in chosen:
                continue
            dist = sum(((total[j] + rows[i][j]) / t - mean[j]) ** 2 for j in range(d))
            if dist < best_dist:
                best, best_dist = i, dist
        chosen.append(best)
        total = [total[j] + rows[best][j] for j in range(d)]
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_herding_matches_reference(seed):
    x = torch.randn(40, 5, generator=seeded(seed))
    assert herding(x, 12).tolist() == reference_herding(x, 12)


def test_herding_toy_running_mean_tracks_class_mean():
    # 1-D points with mean 0.5: the first pick must be the point nearest it (0.4, index 1).
    x = torch.tensor([[-2.5], [0.4], [2.3], [-0.6], [1.9], [1.1], [0.9]], dtype=torch.float64)
    assert abs(float(x.mean()) - 0.5) < 1e-6
    picks = herding(x, len(x)).tolist()
    assert sorted(picks) == list(range(len(x)))  # every point once, no repeats
    assert picks[0] == 1
    mean = float(x.mean())
    total = 0.0
    for t, i in enumerate(picks, start=1):
        unused = [j for j in range(len(x)) if j not in picks[: t - 1]]
        gaps = {j: abs((total + float(x[j])) / t - mean) for j in unused}
        assert gaps[i] <= min(gaps.values()) + 1e-12
        total += float(x[i])
    assert abs(total / len(x) - mean) < 1e-9


def test_herding_hand_example():
    # mean 0: picks 0.1 first, then -0.3 (mean -0.1) beats 1.0 (mean 0.55), then ...
    x = torch.tensor([[1.0], [0.1], [-0.3], [-0.8]])
    assert herding(x, 3).tolist() == [1, 2, 0]


def reference_farthest(x: torch.Tensor, centres: list[int]) -> int:
    best, best_d = -1, -1.0
    for i in range(len(x)):
        d = min(float((x[i] - x[c]).norm()) for c in centres)
        if d > best_d:
            best, best_d = i, d
    return best


def coverage(x: torch.Tensor, centres: list[int]) -> float:
    return float(torch.cdist(x.double(), x[centres].double()).min(1).values.max())


@pytest.mark.parametrize("seed", [0, 1])
def test_k_center_greedy(seed):
    x = torch.randn(30, 4, generator=seeded(seed))
    picks = k_center_greedy(x, 10).tolist()
    assert len(set(picks)) == 10
    assert picks[0] == int((x - x.mean(0)).norm(dim=1).argmin())  # documented first centre
    for t in range(1, 10):
        assert picks[t] == reference_farthest(x, picks[:t])
    radii = [coverage(x, picks[:t]) for t in range(1, 11)]
    assert all(b <= a for a, b in zip(radii, radii[1:], strict=False))


def test_k_center_first_choices():
    x = torch.randn(20, 3, generator=seeded(3))
    assert k_center_greedy(x, 5, first=7)[0] == 7
    a = k_center_greedy(x, 5, generator=seeded(4))
    assert torch.equal(a, k_center_greedy(x, 5, generator=seeded(4)))
    assert len(set(k_center_greedy(x, 20).tolist())) == 20  # all points, none twice
    with pytest.raises(ValueError):
        k_center_greedy(x, 21)


def test_forgetting_scores_hand_record():
    correct = torch.tensor(
        [
            # ex0: never learned; ex1: learned, never forgotten; ex2: forgotten twice;
            # ex3: forgotten once; ex4: learned at the last epoch only
            [0, 1, 1, 1, 0],
            [0, 1, 0, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 1, 0, 1, 0],
            [0, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert forgetting_scores(correct).tolist() == [5, 0, 2, 1, 0]
    # Ranked last instead, the never-learned example falls below every learned one.
    assert forgetting_scores(correct, never_learned="last").tolist() == [-1, 0, 2, 1, 0]
    with pytest.raises(ValueError, match="'first' or 'last'"):
        forgetting_scores(correct, never_learned="middle")


def test_most_forgotten_orders_by_score_and_breaks_ties_randomly():
    scores = torch.tensor([0, 3, 1, 3, 0, 2, 3])
    top = most_forgotten(scores, 4, seeded(0)).tolist()
    assert sorted(top[:3]) == [1, 3, 6] and top[3] == 5
    firsts = {most_forgotten(scores, 1, seeded(s)).item() for s in range(20)}
    assert firsts == {1, 3, 6}


def test_random_indices_distinct_per_class():
    counts = torch.tensor([5, 3, 8])
    idx = random_indices(counts, 3, seeded(0))
    offsets = [0, 5, 8]
    for c in range(3):
        row = idx[c].tolist()
        assert len(set(row)) == 3
        assert all(offsets[c] <= i < offsets[c] + int(counts[c]) for i in row)
    assert torch.equal(idx, random_indices(counts, 3, seeded(0)))
    with pytest.raises(ValueError):
        random_indices(counts, 4, seeded(0))
