"""Validation of a synthesis run's settings, every problem named with its fix."""

from __future__ import annotations

from dcl.methods.registry import BUILTIN
from dcl.networks import network_problem
from dcl.objectives import METRICS


def validate(
    method: str, ipc: int, backbone: str, metric: str, init: str, batch_real: int, mode: str
) -> None:
    """Raise ``ValueError`` naming every invalid setting and how to fix it."""
    problems = []
    if method not in BUILTIN and "." not in method:  # a dotted path is resolved on its own
        problems.append(
            f"unknown method '{method}' (choose {', '.join(BUILTIN)}, or give the dotted class "
            "path of a dcl.methods.MatchingMethod subclass)"
        )
    if ipc < 1:
        problems.append(f"ipc must be at least 1, got {ipc}")
    if (problem := network_problem(backbone)) is not None:
        problems.append(f"unknown backbone '{backbone}' ({problem})")
    if metric not in METRICS:
        problems.append(f"unknown metric '{metric}' (choose {', '.join(METRICS)})")
    if init not in ("real", "noise"):
        problems.append(f"init must be 'real' or 'noise', got '{init}'")
    if batch_real < 1:
        problems.append(f"batch_real must be at least 1, got {batch_real}")
    if mode not in ("replicate", "shard_classes"):
        problems.append(f"multi_gpu must be 'replicate' or 'shard_classes', got '{mode}'")
    if problems:
        raise ValueError("Invalid synthesis settings: " + "; ".join(problems) + ".")
