"""Published per-method settings and validation of user choices."""

from __future__ import annotations

from dcl.networks import network_problem
from dcl.objectives import METRICS

METHODS: tuple[str, ...] = ("dm", "dc", "dsa", "datadam", "mtt")
# Image learning rates of the papers (DM: 10 for 100+ ipc on CIFAR-10; set lr_img for that).
DEFAULT_LR_IMG = {"dm": 1.0, "dc": 0.1, "dsa": 0.1}
# DC's numbers came from the original code (noise init, inner SGD momentum 0.5); DSA's from the
# release after its DSA commit (real init, plain inner SGD); DM starts from real images.
DEFAULT_INIT = {"dm": "real", "dc": "noise", "dsa": "real"}
DEFAULT_MOMENTUM_NET = {"dm": 0.0, "dc": 0.5, "dsa": 0.0}
# (outer_loop, inner_loop) per images per class, DC/DSA papers.
PUBLISHED_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


def default_loops(ipc: int) -> tuple[int, int]:
    """``(outer_loop, inner_loop)`` for any ``ipc``: the published table, else the nearest entry.

    Beyond 50 images per class the authors suggest (100, 2), used from 100 on.
    """
    if ipc in PUBLISHED_LOOPS:
        return PUBLISHED_LOOPS[ipc]
    if ipc >= 100:
        return (100, 2)
    nearest = min(PUBLISHED_LOOPS, key=lambda k: (abs(k - ipc), k))
    return PUBLISHED_LOOPS[nearest]


def validate(
    method: str, ipc: int, backbone: str, metric: str, init: str, batch_real: int, mode: str
) -> None:
    """Raise ``ValueError`` naming every invalid setting and how to fix it."""
    problems = []
    if method not in METHODS and "." not in method:  # a dotted path is resolved on its own
        problems.append(
            f"unknown method '{method}' (choose {', '.join(METHODS)}, or give the dotted class "
            "path of a dcl.synthesis.methods.MatchingMethod subclass)"
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
