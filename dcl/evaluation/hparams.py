"""TensorBoard HPARAMS rows of a many-set evaluation: one run per set, its accuracy the metric."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# The HPARAMS dashboard's metrics (tags under "hparam/" sort together in the scalars too).
ACCURACY, SPREAD = "hparam/accuracy", "hparam/accuracy_std"
HParam = str | int | float | bool


def run_name(index: int, source: str) -> str:
    """The run's folder: its row number, then the set's name with only safe characters."""
    name = Path(source).stem if source.endswith(".pt") else source
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9._=-]+', '_', name)[:60]}"


def _value(value: Any) -> HParam:
    """A value the HPARAMS plugin takes: lists joined, ``None`` spelled out."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)  # None and anything else: the plugin refuses them as they are


def set_hparams(row: dict[str, Any], protocol: dict[str, Any]) -> dict[str, HParam]:
    """A set's hyperparameters: what the set is, and the protocol and recipe it trained with."""
    values = {k: row.get(k) for k in ("set", "method", "dataset", "ipc", "step", "set_seed")}
    values.update(
        recipe=row.get("recipe"),
        lr=row.get("lr"),
        networks=row.get("networks"),
        models=protocol.get("architectures"),
        num_models=protocol.get("num_models"),
        seed=protocol.get("seed"),
        augment=protocol.get("augment"),
        epochs=protocol.get("epochs"),
    )
    return {k: _value(v) for k, v in values.items()}


def write_hparams(
    rows: list[dict[str, Any]], protocol: dict[str, Any], folder: str | Path
) -> list[Path]:
    """Write one TensorBoard run per set under ``folder``, for the HPARAMS dashboard.

    A run folder of an earlier report of the same name is emptied of its event files first:
    TensorBoard would otherwise show that set twice.

    Args:
        rows: The table's rows (``dcl.evaluation.table.set_row``).
        protocol: The shared protocol (``sets_document``'s).
        folder: The TensorBoard log folder (``tensorboard --logdir FOLDER``).

    Returns:
        The run folders, in row order.
    """
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(folder)
    runs = [folder / run_name(k, row["set"]) for k, row in enumerate(rows, 1)]
    for run in runs:
        for stale in run.glob("events.out.tfevents.*"):
            stale.unlink()
    with SummaryWriter(log_dir=str(folder)) as writer:
        for row, run in zip(rows, runs, strict=True):
            metrics = {ACCURACY: row["mean"], SPREAD: row["std"]}
            metrics = {k: float("nan") if v is None else float(v) for k, v in metrics.items()}
            writer.add_hparams(set_hparams(row, protocol), metrics, run_name=run.name)
    return runs
