"""Result tables and JSON documents shared by evaluate.py and the evaluation callback."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dcl.evaluation.protocol import summarize


def summaries(results: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per architecture: accuracies, mean and std."""
    return {arch: summarize(accs) for arch, accs in results.items()}


def format_table(
    results: dict[str, list[float]],
    baseline: dict[str, list[float]] | None = None,
    baseline_name: str = "baseline",
    title: str = "set",
) -> str:
    """A plain-text table: architecture, mean, std, n, and the baseline's beside them."""
    header = f"{'architecture':<16} {title + ' acc %':>18} {'n':>3}"
    if baseline is not None:
        header += f" {baseline_name + ' acc %':>22} {'gain':>6}"
    lines = [header, "-" * len(header)]
    for arch, accs in results.items():
        s = summarize(accs)
        line = f"{arch:<16} {s['mean']:>10.2f} +- {s['std']:5.2f} {len(accs):>3}"
        if baseline is not None and arch in baseline:
            b = summarize(baseline[arch])
            line += f" {b['mean']:>14.2f} +- {b['std']:5.2f} {s['mean'] - b['mean']:>+6.2f}"
        lines.append(line)
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """``value`` with paths and other foreign objects as strings, non-finite floats as ``None``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def evaluation_document(
    results: dict[str, list[float]],
    baseline: dict[str, list[float]] | None,
    baseline_name: str | None,
    settings: dict[str, Any],
    selection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document of one evaluation.

    Args:
        results: Accuracies (%) per architecture of the evaluated set.
        baseline: Accuracies per architecture of the baseline, or ``None``.
        baseline_name: The baseline's method (ignored without ``baseline``).
        settings: Options and resolved settings of the run.
        selection: How the reported set was chosen (``Selection.record``); ``None``: the set
            given (``evaluate.py``), recorded as ``selected_on`` ``last``.

    Returns:
        ``{"results": {ARCH: {"accuracies", "mean", "std"}}, "selected_on": "last", "val" or
        "test", "selection": {...} or None, "baseline": {"method", "results"} or None,
        "settings": {...}, "version": dcl.__version__}``.
    """
    from dcl import __version__

    base = None
    if baseline is not None:
        base = {"method": baseline_name, "results": summaries(baseline)}
    return {
        "results": summaries(results),
        # What chose the reported set: "test" marks an optimistic, test-selected number.
        "selected_on": "last" if selection is None else selection["selected_on"],
        "selection": None if selection is None else json_safe(selection),
        "baseline": base,
        "settings": json_safe(settings),
        "version": __version__,
    }


def write_json(document: dict[str, Any], path: str | Path) -> Path:
    """Write ``document`` as indented JSON (creating parent folders); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
