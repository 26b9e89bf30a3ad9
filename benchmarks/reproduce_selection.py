"""Final, validation-selected and test-max accuracy of a reproduction, side by side.

``Snapshots`` keeps the set every N synthesis steps; ``set_selection`` evaluates each kept set
on the validation split (when the data module has one) and on the test set, and reports per
set the three numbers of ``dcl.evaluation.selection``: the last set's test accuracy, the test
accuracy of the set chosen by validation accuracy, and the best test accuracy (the releases'
practice, chosen by the test set itself: optimistic). This benchmark tests every kept set to
show test-max; the validation choice reads validation accuracies only. ``pooled_selection``
joins the sets of several seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import lightning as L

from dcl.data import ClassImages, SyntheticSet
from dcl.evaluation import run_protocol_on_splits
from dcl.evaluation.selection import SELECTED_ON, Selection
from dcl.evaluation.summary import summarize

Results = dict[str, list[float]]
# The three columns and the selection rule behind each.
COLUMNS = {"final": "last", "val_selected": "val", "test_max": "test-max"}


class Snapshots(L.Callback):
    """Keeps a copy of the synthetic set every ``every_n_steps`` image updates.

    Args:
        every_n_steps: How often (0: never).
    """

    def __init__(self, every_n_steps: int = 0) -> None:
        self.every_n_steps, self.sets = every_n_steps, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Keep the current set at every multiple of ``every_n_steps``."""
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self.sets.append(pl_module.synthetic_set())


def snapshot_config(every_n_steps: int) -> dict[str, Any]:
    """The ``Snapshots`` entry of a config's ``trainer.callbacks``."""
    return {
        "class_path": "benchmarks.reproduce_selection.Snapshots",
        "init_args": {"every_n_steps": every_n_steps},
    }


def set_selection(
    snapshots: list[SyntheticSet],
    final: SyntheticSet,
    final_results: dict[str, Results],
    arch: str,
    evaluate: Callable[[SyntheticSet, dict[str, ClassImages]], dict[str, Results]],
    test: ClassImages,
    val: ClassImages | None,
) -> dict[str, Any]:
    """One set's three numbers: ``{"final", "val_selected", "test_max", "candidates"}``.

    Args:
        snapshots: The periodic sets (a snapshot of the final step is the final set).
        final: The final set.
        final_results: Its accuracies per split, already measured: ``test``, and ``val`` when
            there is a validation split (else it is measured here).
        arch: The architecture the columns report (the reproduction's first).
        evaluate: Trains the protocol's networks on a set once and tests them on each of the
            given splits (name -> images), returning the results per split name.
        test: The test set.
        val: The validation split, or ``None`` (then ``val_selected`` is ``None``).

    Returns:
        Per column ``{"step", "accuracies", "mean"}`` of the chosen set (``arch`` only), and
        ``candidates``: ``[{"step", "val", "test"}]`` mean accuracies of every set.
    """
    sets = [s for s in snapshots if s.step != final.step] + [final]
    rules = {column: Selection(select) for column, select in COLUMNS.items()}
    if val is None:
        del rules["val_selected"]
    for syn in sets:
        # One training per set: the same networks score the validation split and the test set
        # (the final set's were measured with its test accuracies).
        given = final_results if syn is final else {}
        wanted = {"test": test} | ({} if val is None else {"val": val})
        missing = {split: real for split, real in wanted.items() if split not in given}
        measured = given | (evaluate(syn, missing) if missing else {})
        tested, checked = measured["test"], measured.get("val")
        for rule in rules.values():
            rule.add(syn.step, syn, val=checked, test=tested)
    out: dict[str, Any] = {column: None for column in COLUMNS}
    for column, rule in rules.items():
        chosen = rule.chosen()
        accuracies = chosen.results[arch]
        out[column] = {
            "step": chosen.step,
            "selected_on": SELECTED_ON[rule.select],
            "accuracies": accuracies,
            "mean": summarize(accuracies)["mean"],
        }
    out["candidates"] = rules["final"].record()["candidates"]
    return out


def selection_entry(
    trainer: L.Trainer,
    final: SyntheticSet,
    final_results: dict[str, Results],
    models: list[str],
    protocol: dict[str, Any],
    splits: dict[str, ClassImages],
) -> dict[str, Any]:
    """``{"selection", "selection_seconds"}`` of one reproduced set (``set_selection``).

    Args:
        trainer: The synthesis run's trainer (its ``Snapshots``).
        final: The final set.
        final_results: Its accuracies per split (``test``, and ``val`` when measured).
        models: The evaluated architectures (the columns report the first).
        protocol: ``run_protocol``'s options, as the final set was evaluated with.
        splits: The real splits the final set was tested on, on the evaluation device:
            ``test``, and ``val`` when the data module holds a validation split.
    """
    start = time.perf_counter()
    kept = next(c for c in trainer.callbacks if isinstance(c, Snapshots))

    def evaluate(syn: SyntheticSet, splits: dict[str, ClassImages]) -> dict[str, Results]:
        return run_protocol_on_splits(syn, splits, models, **protocol)

    test, val = splits["test"], splits.get("val")
    chosen = set_selection(kept.sets, final, final_results, models[0], evaluate, test, val)
    return {"selection": chosen, "selection_seconds": time.perf_counter() - start}


def pooled_selection(per_set: list[dict[str, Any] | None], every_n_steps: int) -> dict[str, Any]:
    """Each column's mean and std over all sets x models, with the per-set choices.

    A column is ``None`` unless every set has it (no validation split; a set read back from
    an earlier run without selection).
    """
    out: dict[str, Any] = {"every_n_steps": every_n_steps, "sets": per_set}
    for column, select in COLUMNS.items():
        chosen = [s[column] for s in per_set if s and s.get(column) is not None]
        if len(chosen) < len(per_set) or not chosen:
            out[column] = None
            continue
        summary = summarize([a for c in chosen for a in c["accuracies"]])
        summary.update(selected_on=SELECTED_ON[select], steps=[c["step"] for c in chosen])
        out[column] = summary
    return out


def selection_line(selection: dict[str, Any]) -> str:
    """``final (last) A +- s | val-selected (val) ... | test-max (test) ...`` for the log."""
    names = {"final": "final", "val_selected": "val-selected", "test_max": "test-max"}
    parts = []
    for column, name in names.items():
        s = selection[column]
        text = "n/a" if s is None else f"{s['mean']:.2f} +- {s['std']:.2f}"
        parts.append(f"{name} ({SELECTED_ON[COLUMNS[column]]}) {text}")
    return " | ".join(parts)
