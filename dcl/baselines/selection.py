"""Pure coreset selection rules over feature tensors: random, herding, k-center, forgetting.

Every function works on plain tensors (any device) and returns indices; nothing here trains or
knows about datasets. Distances are computed in float64 so ties and rounding do not depend on the
device. The rules are written here because none of our dependencies has them (scikit-learn and
torchmetrics offer neither herding nor greedy k-center); the forgetting record they score comes
from the extractor's training run (``dcl.baselines.features``, under Lightning Fabric).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_k(k: int, n: int, what: str = "points") -> None:
    if not 1 <= k <= n:
        raise ValueError(f"Cannot select {k} of {n} {what}: need 1 <= k <= {n}.")


def random_indices(counts: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``k`` distinct uniformly random images of every class, as global indices.

    Images are assumed sorted by class (as in ``ClassImages``), class ``c`` occupying the
    ``counts[c]`` positions that start at ``cumsum(counts)[c] - counts[c]``. One batched draw:
    random keys per slot, slots past a class's end masked, top-``k`` per class.

    Args:
        counts: ``(C,)`` images per class.
        k: Images to pick per class.
        generator: Source of randomness (its device is where the keys are drawn).

    Returns:
        ``(C, k)`` int64 global indices on ``counts``' device.

    Raises:
        ValueError: If some class has fewer than ``k`` images.
    """
    counts = counts.long()
    _check_k(k, int(counts.min()), "images of the smallest class")
    offsets = torch.cumsum(counts, 0) - counts
    width = int(counts.max())
    keys = torch.rand(len(counts), width, generator=generator, device=generator.device)
    keys = keys.to(counts.device)
    slots = torch.arange(width, device=counts.device)
    keys = keys.masked_fill(slots >= counts[:, None], -1.0)
    return offsets[:, None] + keys.topk(k, dim=1).indices


def herding(features: Tensor, k: int) -> Tensor:
    """Welling's greedy herding, as in the iCaRL / DC / DM baselines.

    At step ``t`` (1-based) pick the not-yet-selected point ``x`` that brings the running mean
    ``(sum of the t-1 selected + x) / t`` closest (Euclidean) to the mean of all ``features``. The
    first pick is therefore the point nearest the mean. No point is picked twice (iCaRL's loop can
    repeat points; here selected points are masked out). Ties go to the lowest index.

    Args:
        features: ``(n, D)`` features of one class.
        k: Points to select, ``1 <= k <= n``.

    Returns:
        ``(k,)`` int64 indices into ``features`` in selection order.
    """
    x = features.detach().flatten(1).double()
    n = x.shape[0]
    _check_k(k, n)
    mean = x.mean(0)
    total = torch.zeros_like(mean)
    taken = torch.zeros(n, dtype=torch.bool, device=x.device)
    picks = []
    for t in range(1, k + 1):
        # ||(total + x_i) / t - mean||^2 for every candidate i, as one batched computation.
        dist = ((total + x) / t - mean).pow(2).sum(1).masked_fill(taken, float("inf"))
        i = int(dist.argmin())
        picks.append(i)
        taken[i] = True
        total = total + x[i]
    return torch.tensor(picks, dtype=torch.long, device=features.device)


def k_center_greedy(
    features: Tensor,
    k: int,
    first: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Greedy k-center (farthest-point traversal) in feature space (Sener & Savarese, 2018).

    The first centre is ``first`` if given; otherwise a uniformly random point drawn from
    ``generator`` if one is given; otherwise the point nearest the mean of ``features`` (a
    deterministic, representative start; Sener & Savarese start from an existing labelled pool,
    which selection from scratch does not have). Every next centre is the point farthest
    (Euclidean) from its nearest already-chosen centre; ties go to the lowest index. The coverage
    radius (largest distance of any point to its nearest centre) therefore never increases.

    Args:
        features: ``(n, D)`` features of one class.
        k: Centres to select, ``1 <= k <= n``.
        first: Index of the first centre.
        generator: Draws a random first centre when ``first`` is ``None``.

    Returns:
        ``(k,)`` int64 indices into ``features`` in selection order.
    """
    x = features.detach().flatten(1).double()
    n = x.shape[0]
    _check_k(k, n)
    if first is None and generator is not None:
        first = int(torch.randint(n, (1,), generator=generator, device=generator.device))
    elif first is None:
        first = int((x - x.mean(0)).pow(2).sum(1).argmin())
    elif not 0 <= first < n:
        raise ValueError(f"first={first} is not an index of {n} points.")
    picks = [first]
    nearest = (x - x[first]).pow(2).sum(1)  # squared distance to the nearest centre
    for _ in range(k - 1):
        i = int(nearest.argmax())
        picks.append(i)
        nearest = torch.minimum(nearest, (x - x[i]).pow(2).sum(1))
    return torch.tensor(picks, dtype=torch.long, device=features.device)


def forgetting_scores(correct: Tensor, never_learned: str = "first") -> Tensor:
    """Forgetting events per example (Toneva et al., 2019).

    A forgetting event is a transition from correctly classified at one recorded epoch to
    misclassified at the next. Examples never classified correctly in any epoch ("never
    learned") are by default counted as maximally forgotten: they score ``epochs``, more than
    the at most ``epochs // 2`` events any learned example can have (Toneva et al. sort them as
    infinitely forgotten). With ``never_learned="last"`` they score -1 instead and rank below
    every learned example; this matters when the recording run is short and many examples are
    never learned (``docs/published-cells.md`` measures both on CIFAR-10).

    Args:
        correct: ``(epochs, N)`` bool, whether example ``j`` was classified correctly in epoch
            ``e`` (Toneva et al. record this on the training minibatch forward pass).
        never_learned: ``"first"`` (Toneva et al.) or ``"last"``.

    Returns:
        ``(N,)`` int64 scores.
    """
    correct = correct.bool()
    if correct.ndim != 2:
        raise ValueError(f"correct must be (epochs, N), got shape {tuple(correct.shape)}.")
    if never_learned not in ("first", "last"):
        raise ValueError(f"never_learned must be 'first' or 'last', got {never_learned!r}.")
    events = (correct[:-1] & ~correct[1:]).sum(0)
    score = correct.shape[0] if never_learned == "first" else -1
    return events.masked_fill(~correct.any(0), score).long()


def most_forgotten(scores: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """The ``k`` highest-scoring examples, ties between equal integer scores broken at random.

    Args:
        scores: ``(n,)`` integer forgetting scores of one class (see ``forgetting_scores``).
        k: Examples to select, ``1 <= k <= n``.
        generator: Breaks ties (scores are small integers, so ties are common).

    Returns:
        ``(k,)`` int64 indices into ``scores``, most forgotten first.
    """
    _check_k(k, scores.shape[0], "examples")
    # A uniform draw in [0, 0.5) reorders equal scores only, never distinct integers.
    jitter = torch.rand(scores.shape[0], generator=generator, device=generator.device) * 0.5
    keys = scores.double() + jitter.double().to(scores.device)
    return keys.topk(k).indices
