"""Rows of the many-set table: one per set, from each set's single-set JSON document."""

from __future__ import annotations

import math
from typing import Any

from dcl.evaluation.report import json_safe
from dcl.evaluation.summary import summarize

# The protocol tests each network once, after its last epoch: no split picks an epoch.
LAST_EPOCH = "last epoch"
# Settings that belong to a set rather than to the protocol shared by every set.
PER_SET = (
    "synthetic", "output", "method", "dataset", "ipc", "step", "set_seed", "backbone",
    "recipes", "paths", "seconds", "lr", "lr_source",
)  # fmt: skip


def set_row(source: str, document: dict[str, Any]) -> dict[str, Any]:
    """One table row: the set, its metadata and its accuracy over every network.

    Args:
        source: The set as ``--synthetic`` named it (a path or a spec).
        document: The set's single-set document (``evaluation_document``).

    Returns:
        ``set``, ``method``, ``dataset``, ``ipc``, ``step``, ``set_seed``, ``mean`` and ``std``
        (%) over all networks of all architectures, ``networks`` (how many), ``selected_on``,
        ``results`` (per architecture), ``recipes``, ``recipe`` (in words), ``lr``,
        ``lr_source``, ``backbone``, ``paths`` and ``seconds``.
    """
    settings = document["settings"]
    accuracies = [
        a
        for entry in document["results"].values()
        for a in entry["accuracies"]
        if a is not None and math.isfinite(a)
    ]
    overall = summarize(accuracies) if accuracies else {"mean": math.nan, "std": math.nan}
    row = {"set": source}
    row.update({k: settings.get(k) for k in PER_SET if k not in ("synthetic", "output")})
    row.update(
        mean=overall["mean"],
        std=overall["std"],
        networks=len(accuracies),
        selected_on=settings.get("selected_on") or LAST_EPOCH,
        results=document["results"],
        recipe=recipe_text(settings.get("recipes") or {}, settings.get("lr")),
    )
    return row


def recipe_text(recipes: dict[str, dict[str, Any]], lr: float | None) -> str:
    """A set's recipe in words: augmentation and epochs per architecture, and the rate."""
    parts = []
    for arch, r in recipes.items():
        what = f"{r['augment']}, E={r['epochs']}"
        parts.append(what if len(recipes) == 1 else f"{arch}: {what}")
    rate = f"; lr {lr:g}" if isinstance(lr, int | float) else ""
    return "; ".join(parts) + rate


def shared_protocol(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], set[str]]:
    """The settings every set shares, and the names of those that differ between sets."""
    settings = [d["settings"] for d in documents]
    names = [k for k in settings[0] if k not in PER_SET]
    differ = {k for k in names if any(s.get(k) != settings[0][k] for s in settings[1:])}
    return {k: settings[0][k] for k in names if k not in differ}, differ


def sets_document(
    rows: list[dict[str, Any]],
    documents: list[dict[str, Any]],
    cfg: Any,
    seconds: float,
) -> dict[str, Any]:
    """The JSON document of a many-set evaluation.

    Args:
        rows: One ``set_row`` per set.
        documents: The sets' single-set documents, in the same order.
        cfg: The parsed options (``synthetic`` the list of sets, ``output``).
        seconds: Wall time of the whole evaluation.

    Returns:
        ``{"rows", "protocol", "version"}``: ``protocol`` holds every setting the sets share
        (options, networks, device, ``selected_on``); a setting that differs goes into the rows.
    """
    from dcl import __version__

    protocol, differ = shared_protocol(documents)
    for row, doc in zip(rows, documents, strict=True):
        row.update({k: doc["settings"][k] for k in sorted(differ)})
    # The rows hold each set's resolved rate; the protocol the option (auto: per set).
    protocol.update(synthetic=list(cfg.synthetic), output=cfg.output, lr=cfg.lr, seconds=seconds)
    protocol["selected_on"] = sorted({r["selected_on"] for r in rows})
    return {"rows": json_safe(rows), "protocol": json_safe(protocol), "version": __version__}


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")  # a path with a bar must not split the row


def _accuracy(mean: float | None, std: float | None) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    return f"{mean:.2f} ± {std:.2f}"


def markdown_table(rows: list[dict[str, Any]], protocol: dict[str, Any]) -> str:
    """The Markdown table: one row per set, and the protocol they share under it.

    The recipe column appears where the sets' recipes differ; a column per architecture where
    several were trained.
    """
    archs = list(protocol.get("architectures") or [])
    recipes = len({r["recipe"] for r in rows}) > 1
    head = ["set", "method", "dataset", "ipc", "accuracy %", "networks", "selected on"]
    head += [f"{a} %" for a in archs] if len(archs) > 1 else []
    head += ["recipe"] if recipes else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r["set"], r["method"], r["dataset"], r["ipc"]]
        cells += [_accuracy(r["mean"], r["std"]), r["networks"], r["selected_on"]]
        if len(archs) > 1:
            cells += [_accuracy(r["results"][a]["mean"], r["results"][a]["std"]) for a in archs]
        cells += [r["recipe"]] if recipes else []
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + protocol_text(rows, protocol)


def protocol_text(rows: list[dict[str, Any]], protocol: dict[str, Any]) -> str:
    """The shared protocol in one sentence, for under the table."""
    n, seed = protocol.get("num_models"), protocol.get("seed")
    archs = ", ".join(protocol.get("architectures") or [])
    epochs = protocol.get("epochs") or "the recipe's"
    same = "" if len({r["recipe"] for r in rows}) > 1 else f" Recipe: {rows[0]['recipe']}."
    return (
        f"Every set: {archs}, {n} network(s) each (seeds {seed}..{seed + n - 1}), "
        f"--augment {protocol.get('augment')}, epochs {epochs}; accuracy: on the test set at "
        f"the {' / '.join(protocol.get('selected_on') or [LAST_EPOCH])}, mean ± std over the "
        f"networks.{same}"
    )
