"""The throughput table of ``results/README.md``: one row per ``throughput_*.json`` measurement."""

from __future__ import annotations


def _ms(timing: dict) -> str:
    """Median wall ms per step, and on CPU the process CPU time beside it."""
    text = f"{timing['median_ms']:.1f}"
    if timing.get("kind") == "max_rss" and timing.get("cpu_median_ms") is not None:
        text += f" (CPU time {timing['cpu_median_ms']:.0f})"
    return text


def _ratio(row: dict) -> str:
    """The recorded ratio, and every round's when the benchmark ran several."""
    rounds = row.get("round_ratios") or []
    spread = f" (rounds {', '.join(f'{x:.2f}' for x in rounds)})" if len(rounds) > 1 else ""
    return f"{row['ratio']:.2f}×{spread}"


def _variant(row: dict) -> str:
    """The variant; for the default path, what autotune chose and what its probe cost."""
    variant, path = row.get("variant", "eager"), row["ours"].get("path")
    if variant != "default" or not path:
        return variant
    chosen = "+".join(f"{k}={v}" for k, v in path["choice"].items()) or "plain"
    return f"default ({chosen}; {path['how']}, probe {row['ours']['probe_s']:.0f} s)"


def throughput_table(docs: list[dict]) -> list[str]:
    """One Markdown row per (device, shape, method) throughput measurement."""
    head = (
        "| device | shape | method | ours | ipc | real batch | ours ms/step | reference ms/step "
        "| speed-up (reference / ours) | ours peak MiB | reference peak MiB | first-loss "
        "rel. diff | evaluation: models × epochs, s | date |"
    )
    lines = [head, "|" + "---|" * 14]
    for doc in docs:
        env = doc["environment"]
        for r in doc["results"]:
            o, ref, ev = r["ours"], r["reference"], r.get("eval")
            kind = "CUDA max allocated" if o["kind"] == "cuda_max" else "max RSS"
            ev_text = f"{ev['models']} × {ev['epochs']}: {ev['seconds']:.1f}" if ev else "–"
            lines.append(
                f"| {env['device_name']} | {r['shape']} | {r['method'].upper()} "
                f"| {_variant(r)} | {r['ipc']} "
                f"| {r['batch_real']} | {_ms(o)} | {_ms(ref)} "
                f"| {_ratio(r)} | {o['peak_mb']:.0f} ({kind}) | {ref['peak_mb']:.0f} "
                f"| {r['loss_rel_diff']:.1e} | {ev_text} | {env['date'][:10]} |"
            )
    return lines
