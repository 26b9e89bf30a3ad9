"""Evaluation shared by the ranks of a distributed run: each trains its share, all get the table.

Every rank calls the same evaluation (no rank waits idle in the next collective while another
trains for hours), trains the models ``i`` with ``i % world_size == rank`` on its own device,
and the shares are joined with one ``all_gather``. Models depend on their own seed only, so the
joined table is the one a single process computes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def gather_results(
    results: dict[str, list[float]],
    all_gather: Callable[[Tensor], Tensor],
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Join the ranks' shares (NaN where a rank did not train a model) on every rank.

    Args:
        results: This rank's ``run_protocol(..., shard=(rank, world))`` output.
        all_gather: A Lightning strategy's or Fabric's ``all_gather`` (identity on one device).
        device: Where the collective runs (the rank's device: NCCL needs the GPU).

    Returns:
        Every model's accuracy, the same dict on every rank.
    """
    names = list(results)
    local = torch.tensor([results[n] for n in names], dtype=torch.float64)  # (A, M)
    stacked = all_gather(local.to(device)).cpu()
    if stacked.dim() == local.dim():  # one process: nothing to join
        stacked = stacked.unsqueeze(0)
    joined = torch.where(torch.isnan(stacked), 0.0, stacked).sum(0)  # one owner per model
    owners = (~torch.isnan(stacked)).sum(0)
    if bool((owners != 1).any()):
        raise RuntimeError(f"Every model must be evaluated by exactly one rank, got {owners}.")
    return {n: [float(v) for v in row] for n, row in zip(names, joined, strict=True)}
