"""Which set a run reports: the last one, the best on validation, or (named so) the best on test.

``last`` reports the test accuracy of the final set (DC, DSA and DM's releases). ``val`` chooses
among the periodic evaluations and the final set by validation accuracy, and only the chosen set
is tested. ``test-max`` reports the best test accuracy over the periodic evaluations and the
final set, the practice of MTT's and DataDAM's releases and of DD-Ranking: an optimistic number
(the test set chose it), recorded as ``"selected_on": "test"`` and never the default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from dcl.data.registry import DatasetInfo
from dcl.data.synthetic import SyntheticSet

SELECTS = ("last", "val", "test-max")
Select = Literal["last", "val", "test-max"]
# What chose the reported set; the word every table and JSON document carries.
SELECTED_ON = {"last": "last", "val": "val", "test-max": "test"}

Results = dict[str, list[float]]


def select_problems(select: str, every_n_steps: int) -> list[str]:
    """What is wrong with ``select`` for a callback evaluating every ``every_n_steps``."""
    if select not in SELECTS:
        return [f"select '{select}' is not one of {', '.join(SELECTS)}"]
    if select != "last" and every_n_steps <= 0:
        return [
            f"select '{select}' chooses among periodic evaluations: set every_n_steps > 0 "
            "(or select 'last')"
        ]
    return []


def mean_accuracy(results: Results) -> float:
    """The mean over architectures of each architecture's mean accuracy (NaN-free results)."""
    means = [sum(accs) / len(accs) for accs in results.values() if accs]
    return sum(means) / len(means) if means else math.nan


@dataclass
class Candidate:
    """One evaluated set: its step and mean accuracies (``None``: not evaluated on that split).

    Attributes:
        step: Image updates behind the set.
        val: Mean validation accuracy (%).
        test: Mean test accuracy (%).
        results: The test accuracies per architecture, when tested.
        syn: The set, kept only while it is the best under the rule.
    """

    step: int
    val: float | None = None
    test: float | None = None
    results: Results | None = None
    syn: SyntheticSet | None = None

    def summary(self) -> dict[str, Any]:
        """``{"step", "val", "test"}`` of the JSON document."""
        return {"step": self.step, "val": self.val, "test": self.test}


class Selection:
    """The candidates of one run and the one its rule chooses (ties: the later set).

    Args:
        select: ``last``, ``val`` or ``test-max``.
    """

    def __init__(self, select: Select) -> None:
        if select not in SELECTS:
            raise ValueError(f"select '{select}' is not one of {', '.join(SELECTS)}.")
        self.select = select
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None

    def _score(self, candidate: Candidate) -> float | None:
        return {"val": candidate.val, "test-max": candidate.test}.get(self.select)

    def add(
        self,
        step: int,
        syn: SyntheticSet,
        val: Results | None = None,
        test: Results | None = None,
    ) -> Candidate:
        """Record a set evaluated at ``step``; keep it when it is the best so far.

        Args:
            step: Image updates behind ``syn``.
            syn: The set.
            val: Its validation accuracies per architecture, when evaluated on validation.
            test: Its test accuracies per architecture, when tested.
        """
        candidate = Candidate(
            step,
            None if val is None else mean_accuracy(val),
            None if test is None else mean_accuracy(test),
            test,
        )
        self.candidates.append(candidate)
        score = self._score(candidate)
        best = None if self.best is None else self._score(self.best)
        if score is not None and (best is None or score >= best):
            if self.best is not None:
                self.best.syn = None  # one set kept in memory, not one per evaluation
            candidate.syn, self.best = syn, candidate
        return candidate

    def chosen(self) -> Candidate:
        """The chosen candidate: the best under the rule, else (``last``) the latest.

        Raises:
            ValueError: No candidate scored under the rule.
        """
        if self.select == "last":
            return self.candidates[-1]
        if self.best is None:
            raise ValueError(f"select '{self.select}': no set was evaluated to choose from.")
        return self.best

    def state_dict(self) -> dict[str, Any]:
        """Plain data and tensors for a checkpoint: a resumed run chooses among every set."""
        best = None if self.best is None else self.candidates.index(self.best)
        rows = [
            {k: v for k, v in dataclasses.asdict(c).items() if k != "syn"} for c in self.candidates
        ]
        kept = None if self.best is None or self.best.syn is None else self.best.syn.to_dict()
        return {"select": self.select, "candidates": rows, "best": best, "set": kept}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved (ignored when saved under another rule)."""
        if state.get("select") != self.select:
            return
        self.candidates = [Candidate(**row) for row in state["candidates"]]
        self.best = None if state["best"] is None else self.candidates[state["best"]]
        if self.best is not None and state["set"] is not None:
            self.best.syn = _set_from_dict(state["set"])

    def record(self) -> dict[str, Any]:
        """The ``selection`` entry of ``evaluation.json``."""
        chosen = self.chosen() if self.candidates else None
        return {
            "select": self.select,
            "selected_on": SELECTED_ON[self.select],
            "step": None if chosen is None else chosen.step,
            "candidates": [c.summary() for c in self.candidates],
        }


def _set_from_dict(data: dict[str, Any]) -> SyntheticSet:
    """The set of ``SyntheticSet.to_dict()`` (as ``SyntheticSet.load`` reads a file's)."""
    meta = dict(data["meta"])
    info = {k: tuple(v) if isinstance(v, list) else v for k, v in meta.pop("info").items()}
    return SyntheticSet(data["images"], data["labels"], DatasetInfo(**info), **meta)


def title(method: str, select: Select) -> str:
    """The column title of a result table: the method, and how its set was chosen unless last."""
    return method if select == "last" else f"{method} ({select})"
