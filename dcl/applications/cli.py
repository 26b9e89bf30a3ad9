"""What the command lines of ``continual.py`` and ``nas.py`` share: options, data, the run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from dcl.baselines import select_indices
from dcl.data import ClassImages, load_real
from dcl.data.cache import resolve_data_root
from dcl.evaluation.report import json_safe
from dcl.evaluation.sources import device_name, resolve_device

# (flag, type, default, help) of one plain option.
Option = tuple[str, Any, Any, str]

COMMON_OPTIONS: list[Option] = [
    ("--dataset", str, "digits", "Registry name."),
    ("--data_root", str | None, None, "Dataset folder (default: $DCL_DATA_ROOT, else ./data)."),
    ("--download", bool, False, "Fetch via torchvision."),
    ("--cache_dir", str | None, None, "Dataset cache."),
    ("--seed", int, 0, "Seed of every random draw."),
    ("--device", str, "auto", "auto, cpu, cuda or cuda:N."),
    (
        "--threads",
        int | None,
        None,
        "CPU threads of torch (default: torch's choice). Use 1 on a shared machine: "
        "oversubscribed cores make small networks many times slower.",
    ),
    ("--dm_iterations", int, 20000, "DM image updates."),
    ("--batch_real", int, 256, "DM real images per class."),
    (
        "--train_per_class",
        int | None,
        None,
        "Keep only this many seeded random training images per class (a CPU-sized run; the "
        "test set stays whole). Default: all.",
    ),
]


def add_options(parser: ArgumentParser, options: Sequence[Option]) -> None:
    """Add plain ``(flag, type, default, help)`` options."""
    for flag, kind, default, text in options:
        parser.add_argument(flag, type=kind, default=default, help=text)


def command_parser(prog: str, description: str, output: str) -> ArgumentParser:
    """A parser with ``--config``, the common options and ``--output`` (default ``output``)."""
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any options.")
    add_options(parser, COMMON_OPTIONS)
    parser.add_argument("--output", type=str, default=output, help="Folder for JSON and PNG.")
    return parser


def split_list(text: str, cast: type = str) -> list[Any]:
    """``"a, b,c"`` -> ``[cast(a), cast(b), cast(c)]``."""
    return [cast(v.strip()) for v in str(text).split(",") if v.strip()]


def class_balanced_subset(images: ClassImages, per_class: int, seed: int) -> ClassImages:
    """``per_class`` seeded random images of every class (a copy)."""
    keep = select_indices("random", images, per_class, seed=seed)[0].flatten()
    return ClassImages(images.images[keep], images.labels[keep], images.info)


def load_splits(cfg: Namespace, device: torch.device) -> tuple[ClassImages, ClassImages]:
    """Train (on ``device``, reduced by ``--train_per_class``) and test splits of ``--dataset``."""
    train, test = load_real(cfg.dataset, cfg.data_root, cfg.download, cfg.cache_dir)
    if cfg.train_per_class is not None:
        train.check_per_class(cfg.train_per_class, "training images per class (--train_per_class)")
        train = class_balanced_subset(train, cfg.train_per_class, cfg.seed)
    return train.to(device), test


def run_command(
    parser: ArgumentParser,
    args: list[str] | None,
    body: Callable[[Namespace, torch.device], dict[str, Any]],
) -> dict[str, Any]:
    """Parse, set threads, run ``body``; usage errors for bad settings; add settings, version."""
    cfg = parser.parse_args(args)
    cfg.data_root = str(resolve_data_root(cfg.data_root))  # the JSON names the folder read
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        device = resolve_device(cfg.device)
        document = body(cfg, device)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    document["settings"].update(
        {k: v for k, v in cfg.as_dict().items() if k != "config"},
        device=str(device),
        device_name=device_name(device),
    )
    from dcl import __version__
    from dcl.evaluation.recipe import PROTOCOL

    document["version"] = __version__
    document["evaluation_protocol"] = PROTOCOL
    return json_safe(document)
