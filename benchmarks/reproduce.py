"""Reproduce a published setting end to end: synthesis with the shipped config, then evaluation.

Usage::

    python -m benchmarks.reproduce METHOD DATASET IPC [--steps N] [--batch-real N]
        [--num-models N] [--epochs N] [--data-root DIR] [--imagefolder] [--device auto]
        [--tag TAG] [--baseline random|none] [--config PATH] [--max-synthesis-seconds S]
        [--synthesis-seeds S]

Synthesis runs ``train_synthetic.py fit --config configs/METHOD/DATASET_ipcIPC.yaml`` (through
``dcl.cli.train_main``) with a second config that applies the scaling options and replaces the
evaluation callback (evaluation is timed separately here). The set is then evaluated with the
protocol (``dcl.evaluation.run_protocol``): fresh networks trained on it and tested on the full
real test set, and the random-real baseline with the same networks, epochs and augmentation.
With ``--synthesis-seeds S`` this repeats for S seeds and reports the mean and std over all
S x M models (the papers' convention) plus the spread between sets. Writes
``results/METHOD_DATASET_ipcIPC[_TAG].json``. ``--imagefolder`` reads DATASET from an
image folder at ``--data-root`` (e.g. the CIFAR-10 JPEG tree) and compares with DATASET's
published numbers. ``--max-synthesis-seconds`` stops synthesis early when the time runs out and
records the steps done.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.common import REPO, command_line, environment, now
from benchmarks.reproduce_runs import Progress, callback_args, run_name, synthesise
from dcl.baselines import select_baseline
from dcl.evaluation import expand_models, run_protocol, summarize
from dcl.evaluation.protocol import recipes
from dcl.evaluation.report import write_json


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("method", choices=["dm", "dc", "dsa"])
    p.add_argument("dataset", help="Dataset of the shipped config, e.g. mnist or cifar10.")
    p.add_argument("ipc", type=int, help="Images per class.")
    p.add_argument("--config", default=None, help="Config (default configs/METHOD/DATASET_ipcN).")
    p.add_argument("--steps", type=int, default=None, help="Synthesis steps (default published).")
    p.add_argument("--batch-real", type=int, default=None, help="Real images per class per step.")
    p.add_argument("--num-models", type=int, default=None, help="Evaluation networks (default 5).")
    p.add_argument("--epochs", type=int, default=None, help="Epochs per evaluation network.")
    p.add_argument(
        "--models",
        default=None,
        help="Evaluation pool or names (default S: backbone, batch norm -> instance norm).",
    )
    p.add_argument("--data-root", default=None, help="Dataset folder (default: the config's).")
    p.add_argument("--imagefolder", action="store_true", help="--data-root is an image folder.")
    p.add_argument("--cache-dir", default=None, help="Dataset cache (default $DCL_CACHE_DIR).")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda.")
    p.add_argument("--seed", type=int, default=None, help="Run seed (default: the config's).")
    p.add_argument(
        "--synthesis-seeds",
        type=int,
        default=1,
        help="Synthesise S sets (seeds seed..seed+S-1), evaluate --num-models on each and pool "
        "all S x M accuracies, as the papers do (DC/DSA 5 x 20, DM's README 5 x 5).",
    )
    p.add_argument("--baseline", default="random", help="Coreset baseline, or none.")
    p.add_argument("--max-synthesis-seconds", type=float, default=None)
    p.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="Further train_synthetic.py options, e.g. model.init=real.",
    )
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads.")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile'd forwards in synthesis (model.compile) and evaluation.",
    )
    p.add_argument("--tag", default=None, help="Suffix of the result file's name.")
    p.add_argument("--results-dir", default=str(REPO / "results"))
    p.add_argument("--run-dir", default=None, help="Synthesis output (default runs/reproduce/).")
    return p


def pooled(per_set: list[dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Per architecture: mean and std over all sets x models, as the papers report.

    Also the spread between sets: the population std of the per-set means.
    """
    out = {}
    for arch in per_set[0]:
        summary = summarize([a for results in per_set for a in results[arch]])
        means = [summarize(results[arch])["mean"] for results in per_set]
        summary.update(set_means=means, between_sets_std=summarize(means)["std"])
        out[arch] = summary
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Synthesise ``--synthesis-seeds`` sets, evaluate each, write the result JSON, return it."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.synthesis_seeds < 1:
        raise SystemExit("--synthesis-seeds must be at least 1.")
    name = run_name(args)
    default_config = REPO / "configs" / args.method / f"{args.dataset}_ipc{args.ipc}.yaml"
    config_path = Path(args.config or default_config)
    shipped = yaml.safe_load(config_path.read_text())
    evaluation = callback_args(shipped)
    num_models = args.num_models or evaluation.get("num_models", 5)
    epochs = args.epochs or evaluation.get("epochs")  # None: the release's recipe per network
    first = args.seed if args.seed is not None else shipped.get("seed_everything", 0)
    seeds = (
        [None] if args.synthesis_seeds == 1 else [first + i for i in range(args.synthesis_seeds)]
    )
    sets, results, base_results = [], [], []
    for seed in seeds:
        cli, synthesis_seconds, override = synthesise(args, shipped, config_path, seed)
        model, data, trainer = cli.model, cli.datamodule, cli.trainer
        progress = next(cb for cb in trainer.callbacks if isinstance(cb, Progress))
        syn = model.synthetic_set()
        device = trainer.strategy.root_device
        models = expand_models(args.models, syn.backbone)
        plan = {m: dataclasses.asdict(r) for m, r in recipes(syn, models, "auto", epochs).items()}
        protocol = dict(
            num_models=num_models,
            epochs=epochs,
            method=args.method,  # the baseline trains like the condensed set
            seed=syn.seed,
            device=device,
            progress=False,
            compile=args.compile,
        )
        test = data.test.to(device)
        print(f"evaluating set seed {syn.seed}: {num_models} model(s) each of {plan}", flush=True)
        start = now()
        results.append(run_protocol(syn, test, models, **protocol))
        entry = {
            "seed": syn.seed,
            "steps": trainer.global_step,
            "stopped_at_time_budget": progress.stopped_early,
            "synthesis_seconds": synthesis_seconds,
            "synthesis_step_seconds": progress.seconds,
            "evaluation_seconds": now() - start,
        }
        if args.baseline != "none":
            base = select_baseline(
                args.baseline, data.train, args.ipc, seed=syn.seed, device=device
            )
            start = now()
            base_results.append(run_protocol(base, test, models, **protocol))
            entry["baseline_evaluation_seconds"] = now() - start
        sets.append(entry)
    summaries = pooled(results)
    baseline = None
    if base_results:
        baseline = {"method": args.baseline, "results": pooled(base_results)}
        baseline.update(
            mean=baseline["results"][models[0]]["mean"], std=baseline["results"][models[0]]["std"]
        )
    main_arch = summaries[models[0]]
    document = {
        "kind": "reproduction",
        "method": args.method,
        "dataset": args.dataset,
        "data_source": data.dataset,
        "data_root": str(data.root),
        "published_as": args.dataset,
        "ipc": args.ipc,
        "tag": args.tag,
        "accuracies": main_arch["accuracies"],
        "mean": main_arch["mean"],
        "std": main_arch["std"],
        "between_sets_std": main_arch["between_sets_std"],
        "results": summaries,
        "baseline": baseline,
        "sets": sets,
        "steps": sets[-1]["steps"],
        "published_steps": shipped["trainer"]["max_steps"],
        "stopped_at_time_budget": any(s["stopped_at_time_budget"] for s in sets),
        "batch_real": model.hparams.batch_real,
        "published_batch_real": shipped["model"].get("batch_real"),
        "num_sets": len(sets),
        "num_models": num_models,
        "epochs": epochs,
        "published_num_models": evaluation.get("num_models"),
        "published_epochs": evaluation.get("epochs"),
        "models": models,
        "recipes": plan,
        "synthesis_seconds": sum(s["synthesis_seconds"] for s in sets),
        "synthesis_step_seconds": sum(s["synthesis_step_seconds"] for s in sets),
        "evaluation_seconds": sum(s["evaluation_seconds"] for s in sets),
        "environment": environment(torch.device(device)),
        "threads": torch.get_num_threads(),
        "config": str(
            config_path.relative_to(REPO) if config_path.is_relative_to(REPO) else config_path
        ),
        "override": override,
        "extra_overrides": args.override,
        "settings": {
            "model": {
                k: str(v) if not isinstance(v, int | float | str | bool | None) else v
                for k, v in model.hparams.items()
            },
            "trainer_max_steps": trainer.max_steps,
        },
        "command": command_line("reproduce", argv),
    }
    out = Path(args.results_dir) / f"{name}.json"
    write_json(document, out)
    base_text = (
        f", {args.baseline} {baseline['mean']:.2f} +- {baseline['std']:.2f}" if baseline else ""
    )
    print(
        f"{name}: {document['mean']:.2f} +- {document['std']:.2f} over {len(sets)} set(s) x "
        f"{num_models} models{base_text} ({document['steps']} steps); results: {out}",
        flush=True,
    )
    return document


def _summaries(results: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    return {arch: summarize(accs) for arch, accs in results.items()}


if __name__ == "__main__":
    main()
