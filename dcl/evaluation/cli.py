"""``evaluate.py``: evaluate a saved synthetic set, or a baseline built on the fly, by the protocol.

Examples::

    python evaluate.py --synthetic runs/quickstart/synthetic.pt --baseline random
    python evaluate.py --synthetic random:mnist:ipc=10:seed=0 --models M --num_models 5
    python evaluate.py --config eval.yaml --output results.json

``--synthetic`` names a file written by ``SyntheticSet.save`` (or ``train_synthetic.py``), or a
baseline spec ``METHOD:DATASET:ipc=N[:seed=S]`` with METHOD one of random, herding, kcenter,
forgetting, built from the real training set without writing a file (the seed defaults to
``--seed``). Several sets (``--synthetic a.pt b.pt herding:mnist:ipc=1``) are evaluated under one
protocol into one table (``dcl.evaluation.multiset``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import torch
from jsonargparse import Namespace

from dcl import tuning
from dcl.baselines.specs import is_spec
from dcl.data import SyntheticSet
from dcl.data.cache import resolve_data_root
from dcl.data.storage import storage_bytes
from dcl.evaluation import ddranking_run
from dcl.evaluation.autotune import choose_paths
from dcl.evaluation.distributed import gather_results
from dcl.evaluation.labels import LabelPlan, plan_labels
from dcl.evaluation.learning_rate import lr_settings
from dcl.evaluation.multiset import evaluate_sets
from dcl.evaluation.parser import LABEL_OPTIONS, OPTIONS, build_parser
from dcl.evaluation.pools import expand_models
from dcl.evaluation.protocol import recipes, run_protocol
from dcl.evaluation.recipe import PROTOCOL, set_hints
from dcl.evaluation.report import evaluation_document, format_table, json_safe, write_json
from dcl.evaluation.setlist import check_sets, join_sets, set_sources
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
    settings = {name: cfg[name] for name in (*OPTIONS, *LABEL_OPTIONS)}
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
    cfg = parser.parse_args(join_sets(sys.argv[1:] if args is None else args))
    cfg.data_root = str(resolve_data_root(cfg.data_root))  # the JSON names the folder read
    try:
        if cfg.num_models < 1 or (cfg.epochs is not None and cfg.epochs < 1):
            raise ValueError("--num_models and --epochs must be at least 1.")
        if cfg.lr != "auto" and not cfg.lr > 0:
            raise ValueError(f"--lr must be auto or a positive number, got {cfg.lr}.")
        if cfg.devices < 1 or cfg.num_nodes < 1:
            raise ValueError("--devices and --num_nodes must be at least 1.")
        device = resolve_device(cfg.device)
        sources = set_sources(cfg.synthetic)
        cfg.synthetic = sources[0] if len(sources) == 1 else sources  # one set: as it always was
        if len(sources) > 1:
            _check_many(cfg)
        elif cfg.devices * cfg.num_nodes > 1:
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


def _check_many(cfg: Namespace) -> None:
    """Refuse what several sets cannot share before any training (``ValueError``)."""
    if cfg.baseline is not None:
        raise ValueError(
            f"--baseline {cfg.baseline} compares with one set; with several, add the baseline "
            f"as a set of its own, e.g. --synthetic ... {cfg.baseline}:DATASET:ipc=N."
        )
    check_sets(cfg.synthetic, cfg.models)


def evaluate_on_ranks(fabric: Any, cfg: Namespace) -> dict[str, Any]:
    """One rank of ``evaluate.py``: one set, or several (``cfg.synthetic`` a list) in one table."""
    if isinstance(cfg.synthetic, list):
        document = evaluate_sets(fabric, cfg, evaluate_set)
    else:
        document = evaluate_set(fabric, cfg)
    if fabric.world_size > 1 and torch.distributed.is_initialized():
        # End the group here: left to interpreter exit, a gloo thread can abort the process.
        fabric.barrier()
        torch.distributed.destroy_process_group()
    return document


def evaluate_set(fabric: Any, cfg: Namespace) -> dict[str, Any]:
    """One rank's evaluation of one set: its share of the models, gathered into the table."""
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
        labels = _label_plan(cfg, syn, train, models[0], device, fabric.is_global_zero)
        base_soft = None if base is None else labels.soft_for(base)
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
        f"{fabric.world_size} x {device}; {labels.mode} labels{_source(labels)}."
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
        protocol.update(temperature=cfg.temperature)
        extra: dict[str, Any] = {"storage": storage_bytes(syn, _counted(labels))}
        if cfg.protocol == "ddranking":
            join = lambda shares: gather_results(shares, fabric.all_gather, device)  # noqa: E731
            accuracies = ddranking_run.measure(
                syn, train, test, models, labels, protocol, join, augment=_with_aug(cfg.augment),
                teacher_epochs=cfg.teacher_epochs, cache_dir=cfg.cache_dir,
            )  # fmt: skip
            scores = ddranking_run.scores(accuracies)
            extra["ddranking"] = {"accuracies": accuracies, "scores": scores}
            results = {m: a["syn_soft_aug"] for m, a in accuracies.items()}
        else:
            shares = run_protocol(syn, test, models, **protocol, soft_labels=labels.soft_labels)
            results = gather_results(shares, fabric.all_gather, device)
        base_results = None
        if base is not None:
            say(f"Evaluating the {base.method} baseline at {base.ipc} image(s) per class.")
            shares = run_protocol(base, test, models, **protocol, soft_labels=base_soft)
            base_results = gather_results(shares, fabric.all_gather, device)
    say(format_table(results, base_results, cfg.baseline or "baseline", syn.method))
    if "ddranking" in extra:
        say(ddranking_run.format_scores(extra["ddranking"]["scores"]))
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
        **labels.record(),
        evaluation_protocol=cfg.protocol,
    )
    document = evaluation_document(results, base_results, cfg.baseline, settings)
    document.update(json_safe(extra))
    if cfg.output and fabric.is_global_zero:
        say(f"Results: {write_json(document, cfg.output)}")
    return document


def _label_plan(
    cfg: Namespace, syn: SyntheticSet, train: Any, network: str, device: Any, verbose: bool
) -> LabelPlan:
    """``--labels``/``--teacher`` resolved; DD-Ranking always trains soft, with a teacher."""
    ddranking = cfg.protocol == "ddranking"
    if ddranking and cfg.labels == "hard":
        raise ValueError("--protocol ddranking compares soft-label accuracies: drop --labels hard.")
    if ddranking and cfg.augment == "none":
        raise ValueError("--protocol ddranking trains with and without augmentation: pick one.")
    if cfg.teacher_epochs < 1 or not cfg.temperature > 0:
        raise ValueError("--teacher_epochs must be at least 1 and --temperature positive.")
    return plan_labels(
        "soft" if ddranking else cfg.labels, syn, train, cfg.teacher, network, seed=cfg.seed,
        epochs=cfg.teacher_epochs, cache_dir=cfg.cache_dir, device=device,
        need_teacher=ddranking, verbose=verbose,
    )  # fmt: skip


def _with_aug(augment: str) -> str:
    """DD-Ranking's "with augmentation" run: the given mode, DSA (the set's strategy) for auto."""
    return "dsa" if augment == "auto" else augment


def _counted(labels: LabelPlan) -> Any:
    """Soft labels a teacher made count as stored labels: the set needs them to score so."""
    return labels.soft_labels if labels.source == "teacher" else None


def _source(labels: LabelPlan) -> str:
    return "" if labels.source is None else f" ({labels.source}'s)"
