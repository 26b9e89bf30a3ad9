"""Render every result file of ``results/`` as ``results/README.md``.

Usage::

    python -m benchmarks.summary [--results results] [--output results/README.md]

Reproduction results (``METHOD_DATASET_ipcN[_TAG].json``, written by ``benchmarks.reproduce``)
are shown beside the published numbers of ``docs/reference.md`` section 7 (and, for MTT and
DataDAM, of their papers: ``SOURCES``), which are kept here as data; throughput files
(``throughput_*.json``) become the speed and memory table. The "where we stand" notes are
generated from the numbers alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.common import RESULTS
from benchmarks.summary_sections import OLD_PROTOCOL_NOTE, extra_sections, portable, protocol_mark
from benchmarks.summary_throughput import throughput_table

# docs/reference.md section 7: published test accuracy (%) of ConvNet, {ipc: (mean, std or None)}.
_TRIPLE = (1, 10, 50)
PUBLISHED: dict[tuple[str, str], dict[int, tuple[float, float | None]]] = {
    ("cifar10", "random"): {1: (14.4, 2.0), 10: (26.0, 1.2), 50: (43.4, 1.0)},
    ("cifar10", "herding"): {1: (21.5, 1.2), 10: (31.6, 0.7), 50: (40.4, 0.6)},
    ("cifar10", "forgetting"): {1: (13.5, 1.2), 10: (23.3, 1.0), 50: (23.3, 1.1)},
    ("cifar10", "dc"): {1: (28.3, 0.5), 10: (44.9, 0.5), 50: (53.9, 0.5)},
    ("cifar10", "dsa"): {1: (28.8, 0.7), 10: (52.1, 0.5), 50: (60.6, 0.5)},
    ("cifar10", "dm"): {
        1: (26.0, 0.8),
        10: (48.9, 0.6),
        50: (63.0, 0.4),
        100: (67.0, None),
        200: (71.2, None),
        500: (76.1, None),
        1000: (79.8, None),
        1250: (80.8, None),
    },
    **{
        (dataset, method): {i: (v, None) for i, v in zip(_TRIPLE, values, strict=True) if v}
        for dataset, method, values in [
            ("cifar100", "random", (4.2, 14.6, 30.0)),
            ("cifar100", "herding", (8.4, 17.3, 33.7)),
            ("cifar100", "dc", (12.8, 25.2, None)),
            ("cifar100", "dsa", (13.9, 32.3, 42.8)),
            ("cifar100", "dm", (11.4, 29.7, 43.6)),
            ("tinyimagenet", "random", (1.4, 5.0, 15.0)),
            ("tinyimagenet", "dm", (3.9, 12.9, 24.1)),
            ("mnist", "dc", (91.7, 97.4, 98.8)),
            ("mnist", "dsa", (88.7, 97.8, 99.2)),
            ("fashionmnist", "dc", (70.5, 82.3, 83.6)),
            ("fashionmnist", "dsa", (70.6, 84.6, 88.7)),
            ("svhn", "dc", (31.2, 76.1, 82.3)),
            ("svhn", "dsa", (27.5, 79.2, 84.4)),
            # From the methods' own papers (ConvNet, CIFAR-10, means; docs/reference.md too).
            # MTT: Cazenavette et al., "Dataset Distillation by Matching Training
            # Trajectories", CVPR 2022, Table 1 (ZCA, 100 experts x 50 epochs, learned lr).
            ("cifar10", "mtt", (46.3, 65.3, 71.6)),
            # DataDAM: Sajedi et al., "DataDAM: Efficient Dataset Distillation with Attention
            # Matching", ICCV 2023, Table 1.
            ("cifar10", "datadam", (32.0, 54.2, 67.0)),
        ]
    },
}
# Where a method's published numbers come from when not the DC/DSA/DM papers.
SOURCES = {
    "mtt": "MTT paper: Cazenavette et al., CVPR 2022, Table 1",
    "datadam": "DataDAM paper: Sajedi et al., ICCV 2023, Table 1",
}
WHOLE_SET = {
    "cifar10": 84.8,
    "cifar100": 56.2,
    "tinyimagenet": 37.6,
    "mnist": 99.6,
    "fashionmnist": 93.5,
    "svhn": 95.4,
}


def published(dataset: str, method: str, ipc: int) -> tuple[float, float | None] | None:
    """The published ``(mean, std)`` (docs/reference.md section 7), else ``None``."""
    return PUBLISHED.get((dataset, method), {}).get(ipc)


def published_source(method: str) -> str:
    """Where ``published`` takes the method's numbers from."""
    return SOURCES.get(method, "docs/reference.md section 7")


def fmt(mean: float | None, std: float | None = None) -> str:
    """``mean ± std`` with one decimal (``n/a`` for a missing mean)."""
    if mean is None:
        return "n/a"
    return f"{mean:.1f} ± {std:.1f}" if std is not None else f"{mean:.1f}"


def load(folder: Path) -> tuple[list[dict], list[dict]]:
    """Reproduction documents and throughput documents found in ``folder``."""
    runs, speeds = [], []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        doc["_file"] = path.name
        if doc.get("kind") == "throughput":
            speeds.append(doc)
        elif doc.get("kind") == "reproduction":
            runs.append(doc)
    return runs, speeds


def reductions(doc: dict) -> list[str]:
    """What was reduced from the published setting (``ours/published``), e.g. ``steps 300/20000``.

    MTT runs also compare their expert buffer (``experts``, ``expert epochs``) with the 100 x 50
    experts behind the paper's numbers.
    """
    out = []
    for key, label in (
        ("steps", "steps"),
        ("batch_real", "real batch"),
        ("num_models", "models"),
        ("epochs", "epochs"),
        ("num_experts", "experts"),
        ("expert_epochs", "expert epochs"),
    ):
        ours, theirs = doc.get(key), doc.get(f"published_{key}")
        if theirs is not None and ours is not None and ours < theirs:
            out.append(f"{label} {ours}/{theirs}")
    out += [f"override {item}" for item in doc.get("extra_overrides") or []]
    out += [f"method_args {k}={v}" for k, v in (doc.get("method_args_override") or {}).items()]
    return out


def _device(doc: dict) -> str:
    env = doc.get("environment", {})
    return env.get("device_name") or env.get("device", "?")


def reproduction_table(runs: list[dict]) -> list[str]:
    """One Markdown row per reproduction run."""
    head = (
        "| method | dataset (data read) | ipc | steps (published) | real batch (published) "
        "| models × epochs | ours % | random real %, same protocol | published % "
        "| published random % | synthesis s | evaluation s | device | date |"
    )
    lines = [head, "|" + "---|" * 14]
    for d in runs:
        pub_as = d.get("published_as", d["dataset"])
        pub = published(pub_as, d["method"], d["ipc"]) or (None, None)
        pub_random = published(pub_as, "random", d["ipc"]) or (None, None)
        base = d.get("baseline") or {}
        date = d.get("environment", {}).get("date", "")[:10]
        lines.append(
            f"| {d['method'].upper()}{protocol_mark(d)} "
            f"| {d['dataset']} ({d.get('data_source', d['dataset'])}) "
            f"| {d['ipc']} | {d['steps']} ({d.get('published_steps', '?')}) "
            f"| {d['batch_real']} ({d.get('published_batch_real', '?')}) "
            f"| {d['num_models']} × {d['epochs'] or 'recipe'} | {fmt(d['mean'], d['std'])} "
            f"| {fmt(base.get('mean'), base.get('std'))} | {fmt(*pub)} | {fmt(*pub_random)} "
            f"| {d['synthesis_seconds']:.0f} | {d['evaluation_seconds']:.0f} | {_device(d)} "
            f"| {date} |"
        )
    if any(protocol_mark(d) for d in runs):
        lines += ["", OLD_PROTOCOL_NOTE]
    return lines


def standing(runs: list[dict], speeds: list[dict]) -> list[str]:
    """Where we stand, sentence by sentence, from the numbers only."""
    notes = []
    for d in runs:
        pub_as = d.get("published_as", d["dataset"])
        pub, base = published(pub_as, d["method"], d["ipc"]), d.get("baseline")
        scaled = reductions(d)
        what = f"reduced ({', '.join(scaled)})" if scaled else "full published setting"
        text = (
            f"- {d['method'].upper()} {d['dataset']} {d['ipc']} ipc on {_device(d)}, {what}: "
            f"{fmt(d['mean'], d['std'])} %"
        )
        if base:
            text += f", {d['mean'] - base['mean']:+.1f} points over random real (same protocol)"
        if pub:
            source = f" ({SOURCES[d['method']]})" if d["method"] in SOURCES else ""
            text += f"; published {fmt(*pub)}{source}, difference {d['mean'] - pub[0]:+.1f} points"
        else:
            text += "; no number is published for this setting (docs/reference.md section 7)"
        notes.append(text + ".")
    if runs:
        beat = sum(1 for d in runs if d.get("baseline") and d["mean"] > d["baseline"]["mean"])
        full = [d for d in runs if not reductions(d)]
        notes.append(
            f"- {beat} of {len(runs)} runs beat their random-real baseline. {len(full)} ran the "
            "full published setting; only those are comparable with the papers' numbers (reduced "
            "runs show that the pipeline learns, not that it reproduces the papers)."
        )
    for doc in speeds:
        for variant in dict.fromkeys(r.get("variant", "eager") for r in doc["results"]):
            rows = [r for r in doc["results"] if r.get("variant", "eager") == variant]
            ratios = [r["ratio"] for r in rows]
            worst = max(r["loss_rel_diff"] for r in rows)
            notes.append(
                f"- Speed (`{doc['_file']}`) on {doc['environment']['device_name']}, {variant}: "
                "our step runs at "
                f"{min(ratios):.2f}× to {max(ratios):.2f}× the reference's speed (median "
                f"{statistics.median(ratios):.2f}×) over {len(rows)} settings; first losses agree "
                f"with the reference's to {worst:.1e} (relative)."
            )
    return notes or ["- No results recorded yet."]


def render(folder: Path) -> str:
    """The whole ``README.md`` text."""
    runs, speeds = load(folder)
    runs.sort(
        key=lambda d: (
            d.get("environment", {}).get("device", ""),
            d["method"],
            d["dataset"],
            d["ipc"],
            d.get("tag") or "",
        )
    )
    out = [
        "# Measured results",
        "",
        "Generated by `python -m benchmarks.summary` from the JSON files in this folder; do not "
        "edit by hand. Published numbers: `docs/reference.md` section 7 (ConvNet, mean ± "
        "std over models; the papers pool 5 synthesis runs × 20 models); MTT's and DataDAM's "
        "from their papers (CIFAR-10 means). How each run was made: "
        "`benchmarks/README.md`; commands show a data folder outside the repository as "
        "`$DCL_DATA_ROOT` (the JSON files record the path used).",
        "",
        "## Where we stand",
        "",
        *standing(runs, speeds),
        "",
        "## Reproduction runs",
        "",
        *(reproduction_table(runs) if runs else ["No reproduction results yet."]),
        "",
        "Whole-training-set accuracy (docs/reference.md section 7): "
        + ", ".join(f"{k} {v}" for k, v in WHOLE_SET.items())
        + ". CIFAR-10 runs read the JPEG copy (`imagefolder`, quality 75), so they are expected "
        "to land a little below the published CIFAR-10 numbers.",
        "",
        "Commands:",
        "",
        *[f"- `{d['_file']}`: `{portable(d.get('command', '?'))}`" for d in runs],
        "",
        "## Throughput",
        "",
        "Median wall time of one synthesis step (one image update, after warm-up; synchronised on "
        "GPU). Ours is `SynthesisModule` under a Lightning `Trainer`; the reference "
        "(`benchmarks/reference.py`) is written as the authors' release: a Python loop over "
        "classes, one network call per class and batch, per-class siamese augmentation, "
        "per-class `autograd.grad` and a per-layer distance loop, the whole training set as "
        "float32. Both draw the same networks, real batches and augmentations. Peak memory: "
        "CUDA max allocated during the timed steps on GPU; on CPU the max RSS of a process that "
        "ran only that measurement (it includes the Python/torch runtime and the resident "
        "training set: uint8 for ours, uint8 plus a float32 copy for the reference).",
        "",
        *(throughput_table(speeds) if speeds else ["No throughput results yet."]),
        "",
        *[f"- `{d['_file']}`: `{portable(d.get('command', '?'))}`" for d in speeds],
        "",
        *extra_sections(folder),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> Path:
    """Write the summary; returns its path."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.summary", description=__doc__)
    p.add_argument("--results", default=str(RESULTS), help="Folder of result JSON files.")
    p.add_argument("--output", default=None, help="Default: RESULTS/README.md.")
    args = p.parse_args(argv)
    folder = Path(args.results)
    out = Path(args.output or folder / "README.md")
    out.write_text(render(folder))
    print(f"Summary: {out}")
    return out


if __name__ == "__main__":
    main()
