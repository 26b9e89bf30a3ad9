"""Which labels evaluation trains on: the set's hard labels, its own soft labels or a teacher's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from dcl.data.images import ClassImages
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.teacher import find_teacher, teacher_logits

LABEL_MODES: tuple[str, ...] = ("auto", "hard", "soft")


@dataclass
class LabelPlan:
    """How the evaluated set is labelled, and the teacher that relabels others (baselines).

    Attributes:
        mode: ``hard`` (cross-entropy on the class labels) or ``soft`` (soft-label KL).
        soft_labels: The set's soft labels (logits) under ``soft``, else ``None``.
        source: ``set`` (its own), ``teacher`` (relabelled) or ``None`` under ``hard``.
        teacher: The teacher, when one was asked for (or needed), else ``None``.
        teacher_path: Its file.
    """

    mode: str
    soft_labels: Tensor | None = None
    source: str | None = None
    teacher: nn.Module | None = None
    teacher_path: Path | None = None

    def soft_for(self, other: SyntheticSet) -> Tensor | None:
        """Soft labels of another set of the same images' kind (a baseline): the teacher's.

        ``None`` under ``hard``; a ``ValueError`` under ``soft`` without a teacher.
        """
        if self.mode == "hard":
            return None
        if self.teacher is None:
            raise ValueError(
                "A baseline or random subset trained with soft labels needs a teacher to "
                "relabel it: pass --teacher auto (or a teacher file)."
            )
        return teacher_logits(self.teacher, other.images)

    def record(self) -> dict[str, object]:
        """What the results file says about the labels."""
        path = None if self.teacher_path is None else str(self.teacher_path)
        return {"label_mode": self.mode, "soft_label_source": self.source, "teacher_file": path}


def resolve_mode(labels: str, syn: SyntheticSet, teacher: str | None) -> str:
    """``auto`` is ``soft`` when the set carries soft labels or a teacher is given, else hard."""
    if labels not in LABEL_MODES:
        raise ValueError(f"Unknown labels '{labels}'; choose one of {', '.join(LABEL_MODES)}.")
    if labels != "auto":
        return labels
    return "soft" if syn.soft_labels is not None or teacher is not None else "hard"


def plan_labels(
    labels: str,
    syn: SyntheticSet,
    train: ClassImages,
    teacher: str | None,
    network: str,
    *,
    seed: int = 0,
    epochs: int,
    cache_dir: str | None = None,
    device: torch.device | str = "cpu",
    need_teacher: bool = False,
    verbose: bool = False,
) -> LabelPlan:
    """Resolve ``--labels`` and ``--teacher`` into the labels the set trains on.

    Under ``soft`` the set's own soft labels win; without them its images are relabelled by the
    teacher. ``teacher`` is a file (trained and written there when missing), ``auto`` (the
    cached teacher of ``network``, trained on ``train`` when missing) or ``None``.

    Args:
        labels: ``auto``, ``hard`` or ``soft``.
        syn: The evaluated set.
        train: The full real training split (a new teacher trains on it).
        teacher: ``--teacher``.
        network: Architecture of an ``auto`` teacher.
        seed: Seeds a new teacher.
        epochs: Epochs of a new teacher.
        cache_dir: Where ``auto`` teachers are cached.
        device: Where the teacher runs.
        need_teacher: Find an ``auto`` teacher even when none was asked for (DD-Ranking's
            random subsets are relabelled by one).
        verbose: Say when a teacher is trained.

    Returns:
        The plan.
    """
    mode = resolve_mode(labels, syn, teacher)
    if mode == "soft" and syn.soft_labels is None and teacher is None and not need_teacher:
        raise ValueError(
            f"--labels soft: the set ({syn.method}) carries no soft labels; pass --teacher auto "
            "(a network trained on the training split relabels it) or a teacher file."
        )
    plan = LabelPlan(mode)
    if teacher is not None or need_teacher or (mode == "soft" and syn.soft_labels is None):
        path = None if teacher in (None, "auto") else teacher
        plan.teacher, plan.teacher_path = find_teacher(
            train, network, seed=seed, epochs=epochs, path=path, cache_dir=cache_dir,
            device=device, verbose=verbose,
        )  # fmt: skip
    if mode == "soft":
        own = syn.soft_labels is not None
        plan.source = "set" if own else "teacher"
        plan.soft_labels = syn.soft_labels if own else teacher_logits(plan.teacher, syn.images)
    return plan
