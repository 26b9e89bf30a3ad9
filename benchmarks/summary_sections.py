"""Sections of ``results/README.md`` beyond reproduction and throughput: coresets, applications.

Each renderer reads the JSON files its tool writes (``evaluate.py`` for coresets, ``continual.py``
and ``nas.py`` for the applications) and returns Markdown lines; an absent file gives none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# Documents without per-network recipes predate the evaluation that follows the release's
# evaluate_synset (docs/reference.md section 6: E + 1 epochs with a momentum restart, crop_noise
# for batch-norm networks on DC sets, the set's own DSA strategy, eval_mode S); their rows are
# marked so they are not mixed up.
OLD_PROTOCOL = "†"
OLD_PROTOCOL_NOTE = (
    f"{OLD_PROTOCOL} Measured before the evaluation followed the release's evaluate_synset "
    "exactly: E epochs instead of E + 1, no momentum restart at the learning-rate drop."
)


def protocol_mark(settings: dict) -> str:
    """``†`` for a result measured before the release's evaluation protocol, else empty."""
    new = "recipes" in settings or "evaluation_protocol" in settings
    return "" if new else f" {OLD_PROTOCOL}"


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _read_all(folder: Path) -> list[dict]:
    """Every JSON document in ``folder``, by file name (none if it is absent)."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _pm(stats: dict) -> str:
    return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


# A data-root option's value: ``--data-root DIR``, ``--data_root DIR`` or ``data.root=DIR``.
_DATA_ROOT = re.compile(r"(--data[-_]root[ =]|data\.root=)(\S+)")


def portable(command: str) -> str:
    """``command`` with a data folder outside the repository shown as ``$DCL_DATA_ROOT``.

    Where the machine that ran it kept its datasets (an absolute path, or one above the
    repository) means nothing on another; the JSON still records the path. Folders inside the
    repository (``.cache/cifar10-jpeg``, ``data``) are kept.
    """

    def shown(match: re.Match) -> str:
        folder = match.group(2)
        outside = folder.startswith(("/", "~", "..", "'/", "'..", "$"))
        return match.group(1) + ("$DCL_DATA_ROOT" if outside else folder)

    return _DATA_ROOT.sub(shown, command)


def _command(settings: dict, script: str, keys: list[str]) -> str:
    options = " ".join(f"--{k} {settings[k]}" for k in keys if settings.get(k) is not None)
    return f"`{portable(f'python {script} {options}')}`"


def coreset_section(folder: Path) -> list[str]:
    """One row per ``evaluate.py`` document in ``folder`` (coreset baselines)."""
    docs = _read_all(folder)
    if not docs:
        return []
    lines = [
        "## Coreset baselines",
        "",
        "Written by `evaluate.py --synthetic METHOD:DATASET:ipc=N:seed=S --output ...` "
        "(herding and k-center select in the features of a trained ConvNet).",
        "",
        "| set | network | models × epochs | augment | accuracy % | extractor epochs | device |",
        "|---|---|---|---|---|---|---|",
    ]
    for doc in docs:
        s = doc["settings"]
        epochs = s.get("extractor_epochs") if s.get("method") != "random" else None
        for network, result in doc["results"].items():
            recipe = s.get("recipes", {}).get(network)
            trained, augment = (
                (recipe["epochs"], recipe["augment"])
                if recipe
                else (s["resolved_epochs"], s["resolved_augment"])
            )
            lines.append(
                f"| {s['synthetic']}{protocol_mark(s)} | {network} | {s['num_models']} × "
                f"{trained} | {augment} | {_pm(result)} | {epochs or '–'} | {s['device_name']} |"
            )
    if any(protocol_mark(doc["settings"]) for doc in docs):
        lines += ["", OLD_PROTOCOL_NOTE]
    return [*lines, ""]


def continual_section(doc: dict | None) -> list[str]:
    """Mean ± std accuracy on the seen classes after every step, one row per method."""
    if doc is None:
        return []
    s, seen = doc["settings"], doc["classes_seen"]
    lines = [
        "## Continual learning (class-incremental)",
        "",
        f"{doc['dataset']}, {len(seen)} steps, {s['ipc']} images per class in memory, "
        f"{s['orders']} class orders, {s['epochs']} epochs per step, DM {s['dm_iterations']} "
        f"steps with {s['batch_real']} real images per class, on {s.get('device_name', '?')}. "
        "Plot: `continual/continual.png`.",
        "",
        "| method | " + " | ".join(f"{n} classes" for n in seen) + " | DM/selection s | train s |",
        "|---|" + "---|" * (len(seen) + 2),
    ]
    for method, r in doc["methods"].items():
        cells = " | ".join(f"{m:.1f} ± {sd:.1f}" for m, sd in zip(r["mean"], r["std"], strict=True))
        lines.append(f"| {method} | {cells} | {r['memory_time_s']:.0f} | {r['train_time_s']:.0f} |")
    keys = ["dataset", "data_root", "steps", "ipc", "methods", "orders", "dm_iterations"]
    keys += ["batch_real", "epochs", "extractor_epochs", "train_per_class", "threads"]
    return [*lines, *_old_protocol(doc), "", f"Command: {_command(s, 'continual.py', keys)}", ""]


def nas_section(doc: dict | None) -> list[str]:
    """Rank correlation, top-k overlap and time of each proxy against the reference ranking."""
    if doc is None:
        return []
    s, full = doc["settings"], doc["full"]
    lines = [
        "## Architecture search proxy",
        "",
        f"{doc['dataset']}: {len(doc['candidates'])} ConvNet variants, each trained on every "
        f"proxy and on {full['images']} real images (the reference ranking, {full['epochs']} "
        f"epochs, {full['train_time_s']:.0f} s in all; its best: {full['best']}), on "
        f"{s.get('device_name', '?')}. Preparing a proxy (DM condensation or random selection) "
        "is in the last column. Plot: `nas/nas.png`.",
        "",
        f"| proxy | images | epochs | Spearman ρ | top-{doc['k']} overlap | best | training s "
        "| preparing s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in doc["proxies"].items():
        lines.append(
            f"| {name} | {p['images']} | {p['epochs']} | {p['spearman']:+.3f} "
            f"| {p['top_k_overlap']:.2f} | {p['best']} | {p['train_time_s']:.0f} "
            f"| {p['prepare_time_s'] or 0:.0f} |"
        )
    keys = ["dataset", "data_root", "ipc", "widths", "depths", "acts", "norms", "pools"]
    keys += ["proxy_epochs", "full_epochs", "full_subset", "test_subset", "dm_iterations"]
    keys += ["batch_real", "threads"]
    return [*lines, *_old_protocol(doc), "", f"Command: {_command(s, 'nas.py', keys)}", ""]


def _threads(doc: dict) -> str:
    threads = doc["settings"].get("threads")
    return f"{threads} thread(s) per run" if threads else "default threads per run"


def precision_section(folder: Path) -> list[str]:
    """Accuracy of sets synthesised under each trainer precision (``benchmarks.precision``)."""
    docs = _read_all(folder)
    if not docs:
        return []
    lines = [
        "## Mixed precision",
        "",
        "Sets synthesised under each `--trainer.precision`, evaluated in float32 by the same "
        "protocol; mean over seeds of each seed's mean accuracy, ± its standard error.",
        "",
        "| setting | precision | seeds | accuracy % | difference | random real % | wall s "
        "| device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for doc in docs:
        for row in doc["results"]:
            s = row["runs"][0]["settings"]
            base = [r["baseline_mean"] for r in row["runs"] if r["baseline_mean"] is not None]
            lines.append(
                f"| {s['method'].upper()} {s['dataset']} {s['ipc']} ipc, {s['step']} steps "
                f"| {row['precision']} | {len(row['runs'])} | {row['mean']:.1f} ± "
                f"{row['sem']:.1f} | {row['difference']:+.1f} ± {row['difference_se']:.1f} "
                f"| {sum(base) / len(base) if base else float('nan'):.1f} | {row['seconds']:.0f} "
                f"| {doc['environment']['device_name']}; {_threads(doc)} |"
            )
        lines += [*_old_protocol(doc), "", f"Command: `{portable(doc['command'])}`", ""]
    return lines


def evaluation_speed_section(folder: Path) -> list[str]:
    """Our evaluation with default flags against the release's loop (evaluation_speed)."""
    docs = [d for d in _read_all(folder) if d.get("kind") == "evaluation_speed"]
    if not docs:
        return []
    lines = [
        "## Evaluation speed",
        "",
        "Training and testing `num_models` fresh networks on a set by the release's protocol: "
        "ours with default flags (autotune probe on an empty cache included) against "
        "`benchmarks/reference_ops.evaluate_synset` (the release's loop), same set, network, "
        "epochs, augmentation and batch; rounds interleaved, the median-ratio round kept.",
        "",
        "| setting | models × epochs | path chosen | ours s (probe s) | reference s "
        "| speed-up | without probe | device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for doc in docs:
        r, env = doc["result"], doc["environment"]
        ours, path = r["ours"], r["ours"]["path"]
        chosen = ", ".join(f"{k}={path[k]}" for k in ("compile", "channels_last", "ensemble"))
        rounds = ", ".join(f"{x:.2f}" for x in r["round_ratios"])
        lines.append(
            f"| {r['model']} {r['dataset_shape']} {r['ipc']} ipc, {r['recipe']['augment']} "
            f"| {r['num_models']} × {r['recipe']['epochs']} | {chosen} ({path['how']}) "
            f"| {ours['seconds']:.1f} ({ours['probe_seconds']:.1f}) "
            f"| {r['reference']['seconds']:.1f} | {r['ratio']:.2f}× (rounds {rounds}) "
            f"| {r['ratio_without_probe']:.2f}× | {env['device_name']}, {env['date'][:10]} |"
        )
    lines += ["", "Commands:", ""]
    lines += [f"- `{portable(d['command'])}`" for d in docs]
    return [*lines, ""]


def _old_protocol(doc: dict) -> list[str]:
    """The note for a whole section measured before the release's evaluation protocol."""
    return [] if "evaluation_protocol" in doc else ["", OLD_PROTOCOL_NOTE]


def extra_sections(folder: Path) -> list[str]:
    """All sections of this module for the results folder ``folder``."""
    return [
        *coreset_section(folder / "baselines"),
        *continual_section(_read(folder / "continual" / "continual.json")),
        *nas_section(_read(folder / "nas" / "nas.json")),
        *precision_section(folder / "precision"),
        *evaluation_speed_section(folder / "evaluation_speed"),
    ]
