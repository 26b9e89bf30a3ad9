"""The many-set plot: accuracy per set with its spread, and accuracy against ipc per method."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from dcl.plot import line_plot

Series = dict[str, tuple[list[float], list[float]]]
YLABEL = "test accuracy (%)"


def _finite(row: dict[str, Any]) -> bool:
    return row["mean"] is not None and math.isfinite(row["mean"])


def per_set_series(rows: list[dict[str, Any]]) -> tuple[Series, dict[str, list[float]]]:
    """One point per set at its row number (the legend names it), and its std as error bar."""
    series: Series = {}
    errors: dict[str, list[float]] = {}
    for k, row in enumerate(rows, 1):
        name = f"{k}: {row['method']} ipc={row['ipc']}"
        series[name] = ([float(k)], [row["mean"]])
        errors[name] = [row["std"]]
    return series, errors


def ipc_series(rows: list[dict[str, Any]]) -> tuple[Series, dict[str, list[float]]]:
    """Accuracy against ipc, one line per method given at two ipc or more (else empty).

    Sets of the same method and ipc (two synthesis runs, say) share one point: their mean,
    with the largest of their stds as its bar.
    """
    points: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for row in filter(_finite, rows):
        points.setdefault(row["method"], {}).setdefault(int(row["ipc"]), []).append(row)
    series: Series = {}
    errors: dict[str, list[float]] = {}
    for method, by_ipc in points.items():
        if len(by_ipc) < 2:
            continue
        ipcs = sorted(by_ipc)
        series[method] = (
            [float(i) for i in ipcs],
            [sum(r["mean"] for r in by_ipc[i]) / len(by_ipc[i]) for i in ipcs],
        )
        errors[method] = [max(r["std"] for r in by_ipc[i]) for i in ipcs]
    return series, errors


def plot_sets(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the PNG: accuracy per set with its spread; beside it, accuracy against ipc.

    The second panel is drawn only where some method is given at several ipc.

    Args:
        rows: The table's rows (``dcl.evaluation.table.set_row``).
        path: The PNG to write (parent folders are created).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset = rows[0]["dataset"]
    per_set, per_set_errors = per_set_series(rows)
    by_ipc, by_ipc_errors = ipc_series(rows)
    # Wide enough that long legends still leave the axes room (line_plot refuses less).
    width = 560 + 7 * max(len(name) for name in per_set)
    with tempfile.TemporaryDirectory() as tmp:
        panels = [
            line_plot(
                Path(tmp) / "sets.png",
                per_set,
                errors=per_set_errors,
                title=f"{dataset}: accuracy per set (mean ± std)",
                xlabel="set (row of the table)",
                ylabel=YLABEL,
                size=(width, 460),
                lines=False,
            )
        ]
        if by_ipc:
            panels.append(
                line_plot(
                    Path(tmp) / "ipc.png",
                    by_ipc,
                    errors=by_ipc_errors,
                    title=f"{dataset}: accuracy against images per class",
                    xlabel="images per class (ipc)",
                    ylabel=YLABEL,
                    size=(720, 460),
                )
            )
        images = [Image.open(p).convert("RGB") for p in panels]
        whole = Image.new("RGB", (sum(i.width for i in images), 460), "white")
        x = 0
        for image in images:
            whole.paste(image, (x, 0))
            x += image.width
        whole.save(path, format="PNG")
    return path
