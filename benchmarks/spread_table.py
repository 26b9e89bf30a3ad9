"""Tabulate the rounding spreads that the numerics tests measured under each kernel choice.

    bash benchmarks/kernel_matrix.sh -m numerics
    python -m benchmarks.spread_table outputs/kernel_matrix

Reads each variant's JUnit XML (the ``spread`` fixture records ``spread`` and ``bound`` per test)
and writes ``results/rounding_spread.json`` and ``results/rounding_spread.md``: per test, the
largest measured deviation under every variant, its bound and the margin (bound / largest).
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, environment
from dcl.evaluation.report import write_json


def read_variant(path: Path) -> dict[str, dict[str, Any]]:
    """``test id -> {"spread", "bound", "outcome"}`` for every test that recorded a spread."""
    rows: dict[str, dict[str, Any]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "spread" not in props:
            continue
        failed = case.find("failure") is not None or case.find("error") is not None
        test = f"{case.get('classname')}::{case.get('name')}"
        rows[test] = {
            "spread": float(props["spread"]),
            "bound": float(props["bound"]),
            "outcome": "failed" if failed else "passed",
        }
    return rows


def table(variants: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per test: spread under each variant, the largest, the bound and the margin."""
    tests = sorted({t for rows in variants.values() for t in rows})
    out = []
    for test in tests:
        spreads = {v: rows[test]["spread"] for v, rows in variants.items() if test in rows}
        bound = next(rows[test]["bound"] for rows in variants.values() if test in rows)
        largest = max(spreads.values())
        margin = bound / largest if largest > 0 else None
        out.append(
            {"test": test, "spreads": spreads, "largest": largest, "bound": bound, "margin": margin}
        )
    return out


def markdown(rows: list[dict[str, Any]], variants: list[str], env: dict[str, Any]) -> str:
    """The table as Markdown, with the machine it was measured on."""
    head = [
        "# Rounding spread of the numerics tests under each CPU kernel choice",
        "",
        f"Machine: {env['device_name']}; CPU units {env['cpu_features']}; torch {env['torch']};"
        f" {env['date']}. Made by `bash benchmarks/kernel_matrix.sh -m numerics` then"
        " `python -m benchmarks.spread_table outputs/kernel_matrix`.",
        "",
        "| test | " + " | ".join(variants) + " | largest | bound | margin |",
        "|---" * (len(variants) + 4) + "|",
    ]
    body = []
    for r in rows:
        cells = [f"{r['spreads'][v]:.1e}" if v in r["spreads"] else "-" for v in variants]
        margin = f"{r['margin']:.0e}x" if r["margin"] else "inf"
        name = r["test"].removeprefix("tests.")
        body.append(
            f"| {name} | " + " | ".join(cells) + f" | {r['largest']:.1e} | {r['bound']:.0e}"
            f" | {margin} |"
        )
    return "\n".join(head + body) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="kernel_matrix.sh's log folder")
    parser.add_argument("--output", type=Path, default=RESULTS / "rounding_spread.json")
    args = parser.parse_args(argv)
    xmls = sorted(args.folder.glob("*.xml"))
    if not xmls:
        raise SystemExit(f"No JUnit XML in {args.folder}: run benchmarks/kernel_matrix.sh first.")
    variants = {p.stem: read_variant(p) for p in xmls}
    import torch

    env = environment(torch.device("cpu"))
    rows = table(variants)
    doc = {"environment": env, "variants": list(variants), "rows": rows}
    write_json(doc, args.output)
    args.output.with_suffix(".md").write_text(markdown(rows, list(variants), env))
    print(args.output.with_suffix(".md").read_text())
    return doc


if __name__ == "__main__":
    main()
