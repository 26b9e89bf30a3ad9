"""Baseline specs ``METHOD:DATASET:ipc=N[:seed=S]``: a coreset named on the command line."""

from __future__ import annotations

from pathlib import Path

from dcl.baselines import BASELINES, canonical_method
from dcl.data import DATASET_NAMES, check_name

SPEC_FORMAT = "METHOD:DATASET:ipc=N[:seed=S]"
SPEC_EXAMPLE = "random:mnist:ipc=10:seed=0"


def parse_spec(text: str) -> tuple[str, str, int, int | None]:
    """Parse a baseline spec ``METHOD:DATASET:ipc=N[:seed=S]``.

    Returns:
        ``(method, dataset, ipc, seed)`` with canonical method and dataset names; ``seed`` is
        ``None`` when the spec gives none.

    Raises:
        ValueError: For a malformed spec or an unknown method or dataset, saying what is valid.
    """
    usage = f"expected {SPEC_FORMAT}, e.g. '{SPEC_EXAMPLE}'"
    parts = [p.strip() for p in text.split(":")]
    if len(parts) < 3 or not parts[0] or not parts[1]:
        raise ValueError(f"Malformed baseline spec '{text}': {usage}.")
    try:
        method = canonical_method(parts[0])
    except ValueError:
        raise ValueError(
            f"Unknown baseline method '{parts[0]}' in '{text}'; choose one of "
            f"{', '.join(BASELINES)} ({usage})."
        ) from None
    try:
        dataset = check_name(parts[1])
    except ValueError:
        raise ValueError(
            f"Unknown dataset '{parts[1]}' in '{text}'; choose one of {', '.join(DATASET_NAMES)} "
            f"({usage})."
        ) from None
    values: dict[str, int] = {}
    for part in parts[2:]:
        key, sep, value = part.partition("=")
        if not sep or key not in ("ipc", "seed") or key in values:
            raise ValueError(f"Malformed baseline spec '{text}' at '{part}': {usage}.")
        try:
            values[key] = int(value)
        except ValueError:
            raise ValueError(
                f"Malformed baseline spec '{text}': {key} must be an integer, got '{value}' "
                f"({usage})."
            ) from None
    if "ipc" not in values or values["ipc"] < 1:
        raise ValueError(f"Malformed baseline spec '{text}': needs ipc=N with N >= 1 ({usage}).")
    return method, dataset, values["ipc"], values.get("seed")


def is_spec(text: str) -> bool:
    """Whether ``--synthetic`` is meant as a baseline spec rather than a file path."""
    parts = text.split(":")
    head = parts[0].lower().replace("-", "").replace("_", "")
    return len(parts) > 1 and (head in BASELINES or "ipc=" in text) and not Path(text).is_file()
