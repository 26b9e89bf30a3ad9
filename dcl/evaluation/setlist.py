"""Several ``--synthetic`` sets: read from the command line and checked before any training.

``--synthetic a.pt b.pt herding:mnist:ipc=1`` names sets to evaluate under one protocol into one
table (``dcl.evaluation.multiset``); one set keeps the single-set command as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from dcl.baselines.specs import SPEC_FORMAT
from dcl.evaluation.pools import expand_models
from dcl.evaluation.sources import locate

OPTION = "--synthetic"
# What a baseline spec builds its selection with (select_baseline's default backbone).
SPEC_BACKBONE = "ConvNet"


def join_sets(args: Sequence[str]) -> list[str]:
    """``args`` with ``--synthetic A B C`` rewritten as one JSON list value.

    The parser takes one value per option (a list only as ``[A, B]``, which a config file also
    accepts); argparse's ``nargs`` would refuse the single file name that config files give.

    Args:
        args: Command-line arguments.

    Returns:
        The same arguments, several values after ``--synthetic`` joined into one.
    """
    joined: list[str] = []
    i = 0
    while i < len(args):
        end = i + 1
        if args[i] == OPTION:
            while end < len(args) and not args[end].startswith("-"):
                end += 1
        values = list(args[i + 1 : end])
        joined += [OPTION, json.dumps(values)] if len(values) > 1 else list(args[i:end])
        i = end
    return joined


def set_sources(synthetic: str | list[str]) -> list[str]:
    """The sets ``--synthetic`` names, in order (a file path or a baseline spec each).

    Raises:
        ValueError: For an empty list, or a set named twice.
    """
    sources = [synthetic] if isinstance(synthetic, str) else [str(s) for s in synthetic]
    if not sources:
        raise ValueError(f"--synthetic needs at least one set: a file or {SPEC_FORMAT}.")
    twice = sorted({s for s in sources if sources.count(s) > 1})
    if twice:
        raise ValueError(f"--synthetic names {', '.join(twice)} more than once; name each once.")
    return sources


def check_sets(sources: list[str], models: str | None) -> list[str]:
    """Check every set before any training: readable, one dataset, the same networks.

    Args:
        sources: The sets (``set_sources``).
        models: ``--models`` (``None``: each set's backbone with instance norm).

    Returns:
        The dataset of each set.

    Raises:
        ValueError: A malformed spec, sets of different datasets, or sets whose default networks
            differ (named with the set's position, so that nothing else need be re-checked).
        FileNotFoundError: A set that is neither a file nor a spec.
    """
    datasets, networks = [], []
    for k, source in enumerate(sources, 1):
        try:
            spec, syn, dataset = locate(source)
        except (ValueError, FileNotFoundError) as err:
            raise type(err)(f"--synthetic set {k} of {len(sources)}: {err}") from None
        datasets.append(dataset)
        backbone = SPEC_BACKBONE if syn is None else syn.backbone
        networks.append(expand_models(models, backbone))
    if len(set(datasets)) > 1:
        named = ", ".join(f"{s} ({d})" for s, d in zip(sources, datasets, strict=True))
        raise ValueError(
            f"One table holds sets of one dataset, but these come from several: {named}. "
            "Evaluate each dataset's sets in a run of its own."
        )
    if any(n != networks[0] for n in networks):
        named = ", ".join(f"{s} ({','.join(n)})" for s, n in zip(sources, networks, strict=True))
        raise ValueError(
            f"The sets default to different networks: {named}. Name the networks every set is "
            "tested on with --models (e.g. --models ConvNet)."
        )
    return datasets
