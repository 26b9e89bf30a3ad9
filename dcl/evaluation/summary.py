"""Mean and spread of repeated accuracies, as the papers' tables give them."""

from __future__ import annotations

import torch


def summarize(accuracies: list[float]) -> dict[str, float | list[float]]:
    """Mean and spread of repeated accuracies, as the papers' tables give them.

    Args:
        accuracies: One test accuracy per trained network.

    Returns:
        ``{"accuracies", "mean", "std"}`` with the population standard deviation.
    """
    t = torch.tensor(accuracies, dtype=torch.float64)
    return {"accuracies": accuracies, "mean": float(t.mean()), "std": float(t.std(correction=0))}
