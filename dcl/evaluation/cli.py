"""``evaluate.py``: evaluate a saved synthetic set, or a baseline built on the fly, by the protocol.

Examples::

    python evaluate.py --synthetic runs/quickstart/synthetic.pt --baseline random
    python evaluate.py --synthetic random:mnist:ipc=10:seed=0 --models M --num_models 5
    python evaluate.py --config eval.yaml --output results.json

``--synthetic`` names a file written by ``SyntheticSet.save`` (or ``train_synthetic.py``), or a
baseline spec ``METHOD:DATASET:ipc=N[:seed=S]`` with METHOD one of random, herding, kcenter,
forgetting, built from the real training set without writing a file (the seed defaults to
``--seed``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from dcl.baselines import BASELINES
from dcl.baselines.specs import SPEC_EXAMPLE, SPEC_FORMAT, is_spec
from dcl.data import SyntheticSet
from dcl.evaluation.autotune import choose_paths
from dcl.evaluation.distributed import gather_results
from dcl.evaluation.pools import POOLS, expand_models
from dcl.evaluation.protocol import AUGMENTS, recipes, run_protocol
from dcl.evaluation.report import evaluation_document, format_table, write_json
from dcl.evaluation.sources import (
    build_baseline,
    device_name,
    load_sources,
    locate,
    resolve_device,
)
from dcl.networks import NETWORK_NAMES

OPTIONS = (
    "synthetic", "models", "num_models", "epochs", "augment", "data_root", "cache_dir",
    "device", "seed", "output", "baseline", "extractor", "extractor_epochs", "compile",
    "channels_last", "ensemble", "autotune", "devices", "num_nodes", "strategy", "precision",
)  # fmt: skip


def build_parser() -> ArgumentParser:
    """The command-line parser of ``evaluate.py`` (every option also settable by ``--config``)."""
    parser = ArgumentParser(
        prog="evaluate.py",
        description="Train fresh networks on a synthetic set (or a coreset baseline) with the "
        "published protocol and report test accuracy: mean and std over models, per "
        "architecture, with a baseline beside it.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any options.")
    parser.add_argument(
        "--synthetic",
        type=str,
        required=True,
        help=f"A saved set (synthetic.pt) or a baseline spec {SPEC_FORMAT}, METHOD one of "
        f"{', '.join(BASELINES)}, e.g. {SPEC_EXAMPLE}.",
    )
    parser.add_argument(
        "--models",
        type=str | None,
        default=None,
        help=f"Pool letter ({', '.join([*POOLS, 'S', 'SS'])}) or comma-separated network names "
        f"({', '.join(NETWORK_NAMES)}) or class paths of your own networks (mypkg.nets.MyNet); "
        "default S: the set's backbone with batch norm swapped for instance norm.",
    )
    parser.add_argument(
        "--num_models", type=int, default=5, help="Fresh networks per architecture."
    )
    parser.add_argument(
        "--epochs",
        type=int | None,
        default=None,
        help="The release's E per network (trains epochs 0..E); default: the published 1000 "
        "with augmentation, 300 without.",
    )
    parser.add_argument(
        "--augment",
        type=Literal[AUGMENTS],
        default="auto",
        help="Training augmentation: auto (the release's recipe per network: the set's own DSA "
        "strategy for DSA/DM sets; for DC sets crop_noise on batch-norm networks, dc on MNIST, "
        "else none), dsa, dc, crop_noise or none. A baseline trains like the set.",
    )
    parser.add_argument(
        "--data_root",
        type=str,
        default="data",
        help="Folder holding the real dataset (root/{train,test}/<class> for imagefolder).",
    )
    parser.add_argument(
        "--cache_dir",
        type=str | None,
        default=None,
        help="Compact dataset cache (default $DCL_CACHE_DIR or ~/.cache/dcl).",
    )
    parser.add_argument(
        "--device",
        type=str,
        default="auto",
        help="auto (cuda if available, else cpu), cpu, cuda or cuda:N.",
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="Processes (GPUs) per node sharing the models; the table equals one process's.",
    )
    parser.add_argument("--num_nodes", type=int, default=1, help="Nodes (with --devices each).")
    parser.add_argument(
        "--strategy",
        type=str,
        default="auto",
        help="Lightning Fabric strategy: auto (ddp for several devices), ddp, ddp_spawn, ...",
    )
    parser.add_argument(
        "--precision",
        type=Literal["32-true", "bf16-mixed"],
        default="32-true",
        help="Training and test precision, as synthesis's --trainer.precision (16-mixed is not "
        "offered: evaluation training runs without a gradient scaler).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Network i of each architecture is seeded with seed + i (the same networks for the "
        "set and its baseline); also seeds the baseline's selection.",
    )
    parser.add_argument(
        "--output", type=str | None, default=None, help="Write the results JSON to this file."
    )
    parser.add_argument(
        "--baseline",
        type=Literal[BASELINES] | None,
        default=None,
        help="Also evaluate this coreset at the same ipc, with the same models and protocol.",
    )
    parser.add_argument(
        "--extractor",
        type=str | None,
        default=None,
        help="Feature extractor file for herding/kcenter/forgetting (trained and saved there "
        "first if missing, so later runs reuse it); "
        "default: train one on the full training set.",
    )
    parser.add_argument(
        "--extractor_epochs", type=int, default=10, help="Epochs of a freshly trained extractor."
    )
    parser.add_argument(
        "--compile",
        type=bool | None,
        default=None,
        help="Train and test through torch.compile'd forwards (same numbers; faster on CPU "
        "after a one-off compilation; needs a C++ compiler there); default: --autotune decides.",
    )
    parser.add_argument(
        "--channels_last",
        type=bool | None,
        default=None,
        help="Train and test on channels-last (NHWC) tensors; default: --autotune decides.",
    )
    parser.add_argument(
        "--ensemble",
        type=bool | None,
        default=None,
        help="Train an architecture's networks together in one vmap-ed pass (not batch-norm "
        "networks or class paths); default: --autotune decides.",
    )
    parser.add_argument(
        "--autotune",
        type=bool,
        default=True,
        help="Decide the options left unset by timing a few training steps of throwaway "
        "networks on the set (cached per machine and shape in $DCL_CACHE_DIR/autotune.json; "
        "the choice is printed and recorded); false: plain, the ensemble on CUDA only.",
    )
    return parser


def _settings(cfg: Namespace, syn: SyntheticSet, **resolved: Any) -> dict[str, Any]:
    """Every option as given, then what was resolved from them and the set's metadata."""
    settings = {name: cfg[name] for name in OPTIONS}
    settings.update(resolved)
    settings.update(
        method=syn.method,
        dataset=syn.info.name,
        ipc=syn.ipc,
        step=syn.step,
        set_seed=syn.seed,
        backbone=syn.backbone,
    )
    return settings


def main(args: list[str] | None = None) -> dict[str, Any]:
    """Run ``evaluate.py``: print the results table and return (and optionally write) the JSON.

    With ``--devices N`` (and ``--num_nodes M``) the models are split across the ranks of a
    Lightning Fabric launch and gathered: the table equals a single process's.

    Args:
        args: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        ``{"results", "baseline", "settings", "version"}`` as written to ``--output``.
    """
    import lightning as L

    parser = build_parser()
    cfg = parser.parse_args(args)
    try:
        if cfg.num_models < 1 or (cfg.epochs is not None and cfg.epochs < 1):
            raise ValueError("--num_models and --epochs must be at least 1.")
        if cfg.devices < 1 or cfg.num_nodes < 1:
            raise ValueError("--devices and --num_nodes must be at least 1.")
        device = resolve_device(cfg.device)
        if cfg.devices * cfg.num_nodes > 1:
            locate(cfg.synthetic)  # one clear error here, not one crashed process per rank
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    devices = [device.index] if device.index is not None else cfg.devices
    fabric = L.Fabric(
        accelerator=device.type,
        devices=devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
    )
    return fabric.launch(evaluate_on_ranks, cfg)


def evaluate_on_ranks(fabric: Any, cfg: Namespace) -> dict[str, Any]:
    """One rank of ``evaluate.py``: its share of the models, gathered into the whole table."""
    device = fabric.device
    try:
        syn, train, test = load_sources(cfg, device)
        models = expand_models(cfg.models, syn.backbone)
        plan = recipes(syn, models, cfg.augment, cfg.epochs)
        base = None
        if cfg.baseline == syn.method and cfg.seed == syn.seed and is_spec(cfg.synthetic):
            base = syn  # the very same selection: do not build it twice
        elif cfg.baseline is not None:
            base = build_baseline(cfg.baseline, train, syn.ipc, cfg.seed, cfg, device)
    except (ValueError, FileNotFoundError) as err:
        build_parser().error(str(err))
    protocol = dict(
        num_models=cfg.num_models,
        epochs=cfg.epochs,
        augment=cfg.augment,
        method=syn.method,  # a baseline trains exactly like the set it is compared with
        device=device,
        shard=(fabric.global_rank, fabric.world_size),
    )
    tuned = {name: cfg[name] for name in ("compile", "channels_last", "ensemble", "autotune")}
    say = print if fabric.is_global_zero else (lambda *a, **k: None)
    how = "; ".join(f"{m}: augment {r.augment}, E={r.epochs}" for m, r in plan.items())
    say(
        f"Evaluating {syn.method} {syn.info.name}, {syn.ipc} image(s) per class, step {syn.step}: "
        f"{cfg.num_models} model(s) each ({how}), on {fabric.world_size} x {device}."
    )
    with fabric.autocast():  # the probe times what runs: under the same precision
        paths = choose_paths(
            syn,
            models,
            **protocol,
            **tuned,
            broadcast=fabric.broadcast,
            progress=fabric.is_global_zero,
        )  # rank 0 decides, every rank trains that way; the baseline has the set's shapes
        protocol.update(seed=cfg.seed, progress=fabric.is_global_zero, paths=paths)
        shares = run_protocol(syn, test, models, **protocol)
        results = gather_results(shares, fabric.all_gather, device)
        base_results = None
        if base is not None:
            say(f"Evaluating the {base.method} baseline at {base.ipc} image(s) per class.")
            shares = run_protocol(base, test, models, **protocol)
            base_results = gather_results(shares, fabric.all_gather, device)
    say(format_table(results, base_results, cfg.baseline or "baseline", syn.method))
    settings = _settings(
        cfg,
        syn,
        recipes={m: dataclasses.asdict(r) for m, r in plan.items()},
        architectures=models,
        resolved_device=str(device),
        device_name=device_name(device),
        world_size=fabric.world_size,
        paths={m: dataclasses.asdict(path) for m, path in paths.items()},
    )
    document = evaluation_document(results, base_results, cfg.baseline, settings)
    if cfg.output and fabric.is_global_zero:
        say(f"Results: {write_json(document, cfg.output)}")
    if fabric.world_size > 1 and torch.distributed.is_initialized():
        # End the group here: left to interpreter exit, a gloo thread can abort the process.
        fabric.barrier()
        torch.distributed.destroy_process_group()
    return document
