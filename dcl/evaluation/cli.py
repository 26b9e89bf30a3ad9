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
import time
from typing import Any

import torch
from jsonargparse import Namespace

from dcl import tuning
from dcl.baselines.specs import is_spec
from dcl.data import SyntheticSet
from dcl.data.cache import resolve_data_root
from dcl.evaluation.autotune import choose_paths
from dcl.evaluation.distributed import gather_results
from dcl.evaluation.learning_rate import lr_settings
from dcl.evaluation.parser import OPTIONS, build_parser
from dcl.evaluation.pools import expand_models
from dcl.evaluation.protocol import recipes, run_protocol
from dcl.evaluation.recipe import PROTOCOL, set_hints
from dcl.evaluation.report import evaluation_document, format_table, write_json
from dcl.evaluation.sources import (
    build_baseline,
    device_name,
    load_sources,
    locate,
    resolve_device,
)

__all__ = ["OPTIONS", "build_parser", "evaluate_on_ranks", "main"]


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
        ``{"results", "selected_on", "selection", "baseline", "settings", "version"}`` as
        written to ``--output`` (``selected_on`` ``last``: the set given is reported).
    """
    import lightning as L

    parser = build_parser()
    cfg = parser.parse_args(args)
    cfg.data_root = str(resolve_data_root(cfg.data_root))  # the JSON names the folder read
    try:
        if cfg.num_models < 1 or (cfg.epochs is not None and cfg.epochs < 1):
            raise ValueError("--num_models and --epochs must be at least 1.")
        if cfg.lr != "auto" and not cfg.lr > 0:
            raise ValueError(f"--lr must be auto or a positive number, got {cfg.lr}.")
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
    device, start = fabric.device, time.perf_counter()
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
        like=set_hints(syn),  # a baseline trains exactly like the set it is compared with
        device=device,
        shard=(fabric.global_rank, fabric.world_size),
    )
    tuned = {name: cfg[name] for name in ("compile", "channels_last", "ensemble", "autotune")}
    say = print if fabric.is_global_zero else (lambda *a, **k: None)
    how = "; ".join(f"{m}: augment {r.augment}, E={r.epochs}" for m, r in plan.items())
    rate = lr_settings(cfg.lr, syn)  # the rate and its source: learned, published or given
    say(
        f"Evaluating {syn.method} {syn.info.name}, {syn.ipc} image(s) per class, step {syn.step}: "
        f"{cfg.num_models} model(s) each ({how}; lr {rate['lr']:g}, {rate['lr_source']}), on "
        f"{fabric.world_size} x {device}."
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
        protocol.update(seed=cfg.seed, progress=fabric.is_global_zero, paths=paths, lr=cfg.lr)
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
        paths={m: path.record() for m, path in paths.items()},
        protocol=PROTOCOL,
        cpu_model=tuning.cpu_model(),  # rounding and speed differ between CPU models
        threads=torch.get_num_threads(),
        seconds=round(time.perf_counter() - start, 1),
        **rate,
        **(lr_settings(cfg.lr, base, "baseline_") if base is not None else {}),
    )
    document = evaluation_document(results, base_results, cfg.baseline, settings)
    if cfg.output and fabric.is_global_zero:
        say(f"Results: {write_json(document, cfg.output)}")
    if fabric.world_size > 1 and torch.distributed.is_initialized():
        # End the group here: left to interpreter exit, a gloo thread can abort the process.
        fabric.barrier()
        torch.distributed.destroy_process_group()
    return document
