"""``train_experts.py``: train (or extend) a buffer of expert trajectories for trajectory matching.

Examples::

    python train_experts.py --dataset cifar100 --zca true --num_experts 100 --epochs 50
    python train_experts.py --dataset digits --num_experts 4 --epochs 5 --out buffers/digits
    python train_experts.py --dataset cifar10 --num_experts 100 --devices 4   # 4 GPUs

The defaults are the release's (``buffer.py`` of MTT): ConvNet, 50 epochs, SGD lr 0.01 without
momentum or weight decay, batch 256, DSA with all six ops. A rerun into the same ``--out`` with a
larger ``--num_experts`` trains only the experts the buffer lacks (an interrupted one resumes at
its last finished epoch); other settings than the buffer's are refused.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from jsonargparse import ActionConfigFile, ArgumentParser

from dcl.data import DATASET_NAMES, RealDataModule
from dcl.fabric import is_rank_zero
from dcl.methods.mtt.buffer import ExpertBuffer
from dcl.methods.mtt.expert import AUGMENTS
from dcl.methods.mtt.manifest import default_buffer_path
from dcl.methods.mtt.train import ExpertSettings, train_experts


def build_parser() -> ArgumentParser:
    """The command-line parser of ``train_experts.py`` (every option also settable by --config)."""
    release = ExpertSettings()  # the defaults below are its fields
    parser = ArgumentParser(
        prog="train_experts.py",
        description="Train expert networks on a real training set and save their parameters "
        "after every epoch (MTT's expert trajectories), into a buffer that trajectory matching "
        "reads. Reruns add the missing experts.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any options.")
    parser.add_argument(
        "--dataset", type=str, default="cifar10", help=f"One of {', '.join(DATASET_NAMES)}."
    )
    parser.add_argument(
        "--root",
        type=str | None,
        default=None,
        help="Folder holding the dataset (default: $DCL_DATA_ROOT, else ./data).",
    )
    parser.add_argument("--download", type=bool, default=False, help="Fetch via torchvision.")
    parser.add_argument(
        "--cache_dir", type=str | None, default=None, help="Dataset cache (default $DCL_CACHE_DIR)."
    )
    parser.add_argument(
        "--image_size",
        type=int | None,
        default=None,
        help="imagefolder only: resize the shorter side of every image to this (the synthesis "
        "run's --data.image_size; 64 for TESLA's ImageNet-1K).",
    )
    parser.add_argument(
        "--zca",
        type=bool,
        default=False,
        help="Train on ZCA-whitened images (the release whitens CIFAR-10/100 for its results).",
    )
    parser.add_argument(
        "--zca_eps", type=float, default=0.1, help="ZCA regularisation (0.1 published)."
    )
    parser.add_argument(
        "--val_size",
        type=int | float,
        default=0,
        help="Hold out a validation split of the training split from the experts: images per "
        "class (int) or a fraction (float); give the synthesis run's --data.val_size (0: none).",
    )
    parser.add_argument(
        "--val_seed",
        type=int | None,
        default=None,
        help="Seed of the validation split (default 0, the data module's; give the synthesis "
        "run's seed_everything when it uses the default).",
    )
    parser.add_argument(
        "--network",
        type=str,
        default=release.network,
        help="Network name or class path of your own.",
    )
    parser.add_argument(
        "--num_experts", type=int, default=100, help="Experts the buffer should hold."
    )
    parser.add_argument("--epochs", type=int, default=release.epochs, help="Epochs per expert.")
    parser.add_argument("--lr", type=float, default=release.lr, help="SGD learning rate.")
    parser.add_argument("--momentum", type=float, default=release.momentum, help="SGD momentum.")
    parser.add_argument(
        "--weight_decay", type=float, default=release.weight_decay, help="SGD weight decay."
    )
    parser.add_argument(
        "--batch_size", type=int, default=release.batch_size, help="Images per SGD step."
    )
    parser.add_argument(
        "--augment",
        type=Literal[AUGMENTS],
        default=release.augment,
        help="dsa (per batch: one DSA op, parameters drawn per image) or none.",
    )
    parser.add_argument(
        "--dsa_strategy",
        type=str,
        default=release.dsa_strategy,
        help="DSA ops joined by _ (the release uses all six for every dataset).",
    )
    parser.add_argument(
        "--decay", type=bool, default=release.decay, help="lr x0.1 after epoch epochs // 2 + 1."
    )
    parser.add_argument(
        "--seed", type=int, default=release.seed, help="Expert i draws from (seed, i)."
    )
    parser.add_argument(
        "--out",
        type=str | None,
        default=None,
        help="Buffer folder (default buffers/<dataset>[-zca]/<network>).",
    )
    parser.add_argument(
        "--accelerator", type=str, default="auto", help="auto, cpu, cuda, ... (Lightning)."
    )
    parser.add_argument(
        "--devices", type=int, default=1, help="Processes (GPUs) per node sharing the experts."
    )
    parser.add_argument("--num_nodes", type=int, default=1, help="Nodes (with --devices each).")
    parser.add_argument(
        "--strategy",
        type=str,
        default="auto",
        help="Fabric launch for several devices: auto (ddp) or ddp_spawn. Experts are "
        "independent: no gradients are averaged.",
    )
    parser.add_argument("--progress", type=bool, default=True, help="Show a progress bar.")
    parser.add_argument(
        "--partial_every",
        type=int,
        default=1,
        help="Save an unfinished expert every N epochs (resumed there after an interruption); "
        "0: never.",
    )
    return parser


def main(args: list[str] | None = None) -> ExpertBuffer:
    """Run ``train_experts.py``: train the missing experts, print where the buffer is.

    Args:
        args: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        The buffer.

    Raises:
        ValueError: Bad settings, or a buffer at ``--out`` made with other settings.
    """
    cfg = build_parser().parse_args(args)
    if cfg.num_experts < 1:
        raise ValueError(f"--num_experts must be at least 1, got {cfg.num_experts}.")
    if cfg.devices < 1 or cfg.num_nodes < 1:
        raise ValueError("--devices and --num_nodes must be at least 1.")
    if not cfg.zca_eps > 0:
        raise ValueError(f"--zca_eps must be positive, got {cfg.zca_eps}.")
    datamodule = RealDataModule(
        cfg.dataset,
        root=cfg.root,
        download=cfg.download,
        cache_dir=cfg.cache_dir,
        image_size=cfg.image_size,
        zca=cfg.zca,
        zca_eps=cfg.zca_eps,
        val_size=cfg.val_size,
        val_seed=cfg.val_seed,
    )
    out = cfg.out or default_buffer_path(datamodule.dataset, cfg.zca, cfg.network)
    settings = ExpertSettings(**{f.name: cfg[f.name] for f in dataclasses.fields(ExpertSettings)})
    buffer = train_experts(
        datamodule,
        out,
        cfg.num_experts,
        settings,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        progress=cfg.progress,
        partial_every=cfg.partial_every,
    )
    m = buffer.manifest
    say = print if is_rank_zero() else (lambda *a, **k: None)
    say(
        f"Expert buffer: {buffer.path.resolve()} holds {buffer.num_experts} {m['network']} "
        f"expert(s) x {buffer.epochs} epochs on {m['dataset']} (zca {m['zca']})."
    )
    return buffer
