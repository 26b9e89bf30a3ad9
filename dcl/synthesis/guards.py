"""Checks that stop a synthesis run early and clearly, the same way on every rank."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from dcl.calls import cpu_compiler


def check_precision(trainer: L.Trainer, method: str) -> None:
    """Refuse float16 mixed precision for a method that says it is unsafe (``float16 = False``).

    Such a method steps an optimiser of its own outside Lightning's precision plugin (DC's and
    DSA's inner-loop network, MTT's unrolled student), so float16 gradients there would
    underflow unscaled. bfloat16 has float32's range and needs no scaler. The caller checks the
    method's ``float16`` attribute; this only looks at the trainer's precision.

    Args:
        trainer: The run's trainer.
        method: The method's name, for the message.
    """
    precision = str(trainer.precision)
    if precision in ("16-mixed", "16", "16-true"):
        raise ValueError(
            f"--trainer.precision {precision} is not supported for {method}: it trains a "
            "network with an optimiser of its own, without a gradient scaler, so float16 "
            "gradients would underflow. Use bf16-mixed (same range as float32) or 32-true."
        )


def check_compiler(compile: bool | None, device: torch.device) -> None:
    """Refuse ``compile=True`` on a CPU without a C++ compiler, saying what to do."""
    if compile and device.type == "cpu" and cpu_compiler() is None:
        raise RuntimeError(
            "compile=True on CPU needs a C++ compiler (g++, or the one named by $CXX) and "
            "none was found; install one or leave --model.compile unset (autotune) or false."
        )


def stop_unless_finite(loss: Tensor, step: int, trainer: L.Trainer) -> None:
    """Raise on every rank when any rank's loss is non-finite, before the images are updated.

    Ranks agree through ``reduce_boolean_decision`` (one all-reduce of a flag; on one device a
    plain check), so no rank waits in the next collective while another has stopped. The
    decision needs the host, so this costs one synchronisation per step, which an update that
    must not happen cannot avoid; the last checkpoint and ``synthetic.pt`` stay as saved.
    """
    finite = bool(torch.isfinite(loss.detach()).all())
    if trainer.strategy.reduce_boolean_decision(finite, all=True):
        return
    where = f"this rank's loss: {loss.item()}" if not finite else "on another rank"
    raise FloatingPointError(
        f"Non-finite matching loss at step {step} ({where}); every rank stopped before updating "
        "the images, so the last checkpoint and synthetic.pt hold the last good step. Lower "
        "--model.lr_img or check the data."
    )
