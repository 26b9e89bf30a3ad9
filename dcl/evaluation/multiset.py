"""Several sets under one protocol: one table, one JSON, TensorBoard HPARAMS rows and a plot.

``evaluate.py --synthetic a.pt b.pt herding:mnist:ipc=1`` evaluates each set as the single-set
command does (same networks, seeds, recipe rules, epochs) and writes, beside ``--output``
(default ``evaluation/sets.json``): ``STEM.json`` (every row and the shared protocol),
``STEM.md`` (the table), ``STEM.png`` (the plot) and ``STEM_tensorboard/`` (one run per set).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonargparse import Namespace

from dcl.evaluation.hparams import write_hparams
from dcl.evaluation.report import write_json
from dcl.evaluation.setlist import set_sources
from dcl.evaluation.setplot import plot_sets
from dcl.evaluation.table import markdown_table, set_row, sets_document

DEFAULT_OUTPUT = "evaluation/sets.json"

EvaluateOne = Callable[[Any, Namespace], dict[str, Any]]


def report_paths(output: str | None) -> dict[str, Path]:
    """Where the report goes: the JSON at ``output`` and its siblings of the same stem.

    Args:
        output: ``--output`` (``None``: ``DEFAULT_OUTPUT``).

    Returns:
        ``{"json", "markdown", "plot", "tensorboard"}`` paths.
    """
    path = Path(output or DEFAULT_OUTPUT)
    stem = path.with_suffix("") if path.suffix == ".json" else path
    return {
        "json": path if path.suffix == ".json" else path.with_suffix(".json"),
        "markdown": stem.with_suffix(".md"),
        "plot": stem.with_suffix(".png"),
        "tensorboard": stem.parent / f"{stem.name}_tensorboard",
    }


def one_set(cfg: Namespace, source: str) -> Namespace:
    """``cfg`` for one of the sets: the single-set command's options, writing no file."""
    one = cfg.clone()
    one.synthetic, one.output = source, None
    return one


def evaluate_sets(fabric: Any, cfg: Namespace, evaluate_one: EvaluateOne) -> dict[str, Any]:
    """Evaluate every set of ``cfg.synthetic`` in turn and write the report (on rank zero).

    Args:
        fabric: The launched Lightning Fabric (every rank runs every set, sharing its models).
        cfg: The parsed options, ``synthetic`` a list of sets (checked by ``check_sets``).
        evaluate_one: The single-set evaluation (``dcl.evaluation.cli.evaluate_set``), passed
            in so that this module does not import the command.

    Returns:
        The JSON document: ``{"rows", "protocol", "version"}``.
    """
    start = time.perf_counter()
    sources = set_sources(cfg.synthetic)
    say = print if fabric.is_global_zero else (lambda *a, **k: None)
    documents = []
    for k, source in enumerate(sources, 1):
        say(f"\nSet {k} of {len(sources)}: {source}")
        documents.append(evaluate_one(fabric, one_set(cfg, source)))
    rows = [set_row(source, doc) for source, doc in zip(sources, documents, strict=True)]
    document = sets_document(rows, documents, cfg, round(time.perf_counter() - start, 1))
    table = markdown_table(rows, document["protocol"])
    say(f"\n{table}")
    if fabric.is_global_zero:
        paths = report_paths(cfg.output)
        write_json(document, paths["json"])
        paths["markdown"].parent.mkdir(parents=True, exist_ok=True)
        paths["markdown"].write_text(table + "\n")
        plot_sets(rows, paths["plot"])
        write_hparams(rows, document["protocol"], paths["tensorboard"])
        say("Report: " + ", ".join(str(p) for p in paths.values()))
    return document
