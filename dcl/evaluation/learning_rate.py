"""Which learning rate evaluation trains with: given, learned with the set (MTT), or published."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from dcl.data.synthetic import SyntheticSet

# evaluate_synset's SGD learning rate in the DC/DSA/DM releases (args.lr_net).
PUBLISHED_LR = 0.01
LrSource = Literal["learned", "published", "given"]
LrOption = float | Literal["auto"] | None


def resolve_lr(lr: LrOption | str, syn: SyntheticSet | None) -> tuple[float, LrSource]:
    """The learning rate networks train on ``syn`` with, and where it came from.

    Args:
        lr: A positive number (``given``); ``"auto"`` or ``None``: the set's learned one
            (``syn.lr``, ``learned``: MTT evaluates with the rate it learned) when it has one,
            else the protocol's 0.01 (``published``).
        syn: The set to train on (``None``: one without a learned rate).

    Returns:
        ``(lr, source)`` with source ``learned``, ``published`` or ``given``.

    Raises:
        ValueError: Neither ``auto`` nor a positive finite number, or ``auto`` with a learned
            rate that is not positive.
    """
    if lr is None or lr == "auto":
        learned = getattr(syn, "lr", None)
        if learned is None:
            return PUBLISHED_LR, "published"
        if learned <= 0:
            raise ValueError(
                f"The set's learned learning rate is {learned:g}, not positive (its synthetic lr "
                "diverged: lower the method's lr_lr); evaluate it with a rate of your own, e.g. "
                "--lr 0.01 (SynthesisEvaluation(lr=0.01))."
            )
        return float(learned), "learned"
    try:
        value = float(lr)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(lr, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"lr must be a positive number or 'auto', got {lr!r}.")
    return value, "given"


def lr_settings(lr: LrOption | str, syn: SyntheticSet, prefix: str = "") -> dict[str, float | str]:
    """``{"<prefix>lr": value, "<prefix>lr_source": source}`` for a results document."""
    value, source = resolve_lr(lr, syn)
    return {f"{prefix}lr": value, f"{prefix}lr_source": source}
