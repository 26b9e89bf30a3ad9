"""Lightning Fabric on one device, for the training loops that run outside a ``Trainer``.

The feature extractor of the coreset baselines and the architecture-search candidates train in
plain loops over in-memory tensors; Fabric gives them Lightning's device handling and precision
settings (``32-true``, ``bf16-mixed``, ...) without a ``Trainer``.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

# Precisions that keep float32 weights (the ``*-true`` ones convert them), so the trained network
# is the usual one for ``embed_all`` and ``save_extractor``.
FLOAT32_WEIGHTS: tuple[str, ...] = ("32-true", "16-mixed", "bf16-mixed")
# Of those, the ones a loop that calls ``loss.backward()`` itself can run under ``autocast`` alone
# (16-mixed needs Fabric's gradient scaler).
AUTOCAST_ONLY: tuple[str, ...] = ("32-true", "bf16-mixed")


def concrete_device(device: torch.device | str) -> torch.device:
    """``device`` with the current CUDA device's index filled in for a bare ``cuda``."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def single_device_fabric(device: torch.device | str, precision: str = "32-true") -> L.Fabric:
    """A ``Fabric`` for one process on ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    ``cuda`` without an index means the current CUDA device, as ``torch.device`` placement does.

    Args:
        device: Where to train.
        precision: A Lightning precision (Fabric refuses unknown ones, listing the valid).
    """
    device = concrete_device(device)
    devices = [device.index] if device.index is not None and device.type != "cpu" else 1
    return L.Fabric(accelerator=device.type, devices=devices, precision=precision)


def check_precision(precision: str, allowed: Sequence[str], why: str) -> None:
    """Raise ``ValueError`` naming the ``allowed`` precisions unless ``precision`` is one of them.

    Args:
        precision: The precision asked for.
        allowed: Those this caller supports.
        why: Why the others are not, for the message.
    """
    if precision not in allowed:
        raise ValueError(
            f"precision '{precision}' is not supported here ({why}); "
            f"choose one of {', '.join(allowed)}."
        )


def is_rank_zero() -> bool:
    """Whether this process is rank 0 of its run (Lightning launch, torchrun or SLURM).

    A one-device ``Fabric`` inside one process of a distributed run is its own rank 0, so progress
    bars ask this instead.
    """
    return rank_zero_only.rank == 0
