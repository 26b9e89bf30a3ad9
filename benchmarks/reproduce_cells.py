"""Run a list of published table cells unattended, one after another, resuming where it stopped.

Usage::

    python -m benchmarks.reproduce_cells CELLS.yaml [--set KEY=VALUE ...] [--only NAME ...]
        [--log-dir DIR] [--dry-run]

``CELLS.yaml`` lists cells; each names the result file that marks it done and the command that
makes it, as arguments of ``benchmarks.reproduce`` (a synthesis cell) or of ``evaluate.py`` (an
evaluation-only cell: a coreset baseline)::

    - name: dc_mnist_ipc1
      output: results/published/dc_mnist_ipc1_full.json
      reproduce: [dc, mnist, "1", --num-models, "20", --data-root, "{mnist_root}",
                  --checkpoint-every, "50", --results-dir, results/published, --tag, full]
    - name: random_cifar10_ipc1
      output: results/published/random_cifar10_ipc1.json
      evaluate: [--synthetic, "random:imagefolder:ipc=1", --data_root, "{cifar10_root}",
                 --num_models, "20", --output, "{output}"]

``{KEY}`` in a command is replaced by ``--set KEY=VALUE`` (data folders stay out of the list)
and ``{output}`` by the cell's output. Each cell runs in a process of its own, its output in
``LOG_DIR/NAME.log``, so a crash ends that cell and the list goes on. A cell whose output exists is
skipped: rerunning the same command after an interruption starts with the first unfinished cell,
and a synthesis cell with ``--checkpoint-every`` resumes from its last checkpoint and re-reads the
sets it already evaluated. ``LOG_DIR/status.json`` records each cell's exit code and seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import REPO

ENTRY_POINTS = {"reproduce": ["-m", "benchmarks.reproduce"], "evaluate": ["evaluate.py"]}


def load_cells(path: Path, values: dict[str, str]) -> list[dict[str, Any]]:
    """The cells of ``path`` with ``{KEY}`` placeholders filled in.

    Raises:
        SystemExit: A cell lacks a name, an output or exactly one command, or uses a key that
            no ``--set`` gives.
    """
    cells = yaml.safe_load(path.read_text()) or []
    out = []
    for k, cell in enumerate(cells):
        kinds = [kind for kind in ENTRY_POINTS if kind in cell]
        if not cell.get("name") or not cell.get("output") or len(kinds) != 1:
            raise SystemExit(
                f"{path}: cell {k + 1} needs a name, an output and one of "
                f"{' or '.join(ENTRY_POINTS)} (a list of arguments)."
            )
        output = Path(cell["output"])
        output = output if output.is_absolute() else REPO / output  # as the command sees it
        fill = {**values, "output": str(output)}
        try:
            argv = [str(a).format(**fill) for a in cell[kinds[0]]]
        except KeyError as err:
            raise SystemExit(
                f"{path}: cell {cell['name']!r} uses {{{err.args[0]}}}; give it with "
                f"--set {err.args[0]}=VALUE."
            ) from None
        command = [sys.executable, *ENTRY_POINTS[kinds[0]], *argv]
        out.append({"name": cell["name"], "output": output, "command": command})
    return out


def run_cells(
    cells: list[dict[str, Any]], log_dir: Path, dry_run: bool = False
) -> dict[str, dict[str, Any]]:
    """Run every cell whose output is missing, in order; return (and save) their status."""
    log_dir.mkdir(parents=True, exist_ok=True)
    status_file = log_dir / "status.json"
    status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    for cell in cells:
        name, output = cell["name"], cell["output"]
        if output.is_file():
            print(f"{name}: done ({output})", flush=True)
            continue
        print(f"{name}: {' '.join(cell['command'])}", flush=True)
        if dry_run:
            continue
        start = time.time()
        with open(log_dir / f"{name}.log", "a") as log:
            rc = subprocess.call(
                cell["command"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        seconds = time.time() - start
        finished = rc == 0 and output.is_file()
        status[name] = {"rc": rc, "seconds": round(seconds, 1), "finished": finished}
        status_file.write_text(json.dumps(status, indent=1))
        state = "finished" if finished else f"failed (exit {rc}; see {log_dir / name}.log)"
        print(f"{name}: {state} after {seconds:.0f} s", flush=True)
    return status


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Parse the options, then run the cells."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce_cells",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("cells", type=Path, help="YAML list of cells.")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Placeholders.")
    p.add_argument("--only", nargs="*", default=None, metavar="NAME", help="Run only these.")
    p.add_argument("--log-dir", type=Path, default=REPO / "runs" / "cells")
    p.add_argument("--dry-run", action="store_true", help="Print what would run.")
    args = p.parse_args(argv)
    values = dict(item.partition("=")[::2] for item in args.set)
    cells = load_cells(args.cells, values)
    if args.only is not None:
        unknown = set(args.only) - {c["name"] for c in cells}
        if unknown:
            raise SystemExit(f"--only names no cell of {args.cells}: {', '.join(sorted(unknown))}.")
        cells = [c for c in cells if c["name"] in args.only]
    return run_cells(cells, args.log_dir, args.dry_run)


if __name__ == "__main__":
    main()
