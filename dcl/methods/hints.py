"""How networks should train on a method's sets: the hints a method writes into every set it makes.

Evaluation reads them from the set (``SyntheticSet.evaluation``), so the recipe of the release
that made a set is known without naming the method: a user's method declares its hints as a
class attribute and its sets are evaluated exactly as a built-in's are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# ``dsa``: per-image DSA with the strategy the set was made with. ``release``: the DC release's
# rule for sets made without augmentation (its get_daparam): DC's crop/noise on batch-norm
# networks, DC's crop/scale/rotate on MNIST, none otherwise. ``none``: no augmentation.
Augmentation = Literal["dsa", "release", "none"]


@dataclass(frozen=True)
class EvaluationHints:
    """How the release that made a set trains evaluation networks on it.

    Attributes:
        augment: ``dsa``, ``release`` or ``none`` (see ``Augmentation``).
        epochs: The release's ``epoch_eval_train``; ``None``: 1000 when the network trains with
            augmentation, 300 without (the DC release's rule).
        batch_size: Training batch of the release's evaluation.

    A learned evaluation learning rate travels with the set itself (``SyntheticSet.lr``, from
    the method's ``learned_lr``), not here.
    """

    augment: Augmentation = "release"
    epochs: int | None = None
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.augment not in ("dsa", "release", "none"):
            raise ValueError(
                f"EvaluationHints.augment must be dsa, release or none, got {self.augment!r}."
            )
        if self.epochs is not None and self.epochs < 0:
            raise ValueError(f"EvaluationHints.epochs must be >= 0 or None, got {self.epochs}.")
        if self.batch_size < 1:
            raise ValueError(f"EvaluationHints.batch_size must be >= 1, got {self.batch_size}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as saved with a set."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvaluationHints:
        """The hints saved with a set (unknown keys, from a newer version, are an error)."""
        return cls(**values)


# Sets that no method made (coreset selections) train without augmentation, 300 epochs.
PLAIN = EvaluationHints(augment="none")
