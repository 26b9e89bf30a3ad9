"""Reproduce a published setting end to end: synthesis with the shipped config, then evaluation.

Usage::

    python -m benchmarks.reproduce METHOD DATASET IPC [--steps N] [--batch-real N]
        [--num-models N] [--epochs N] [--data-root DIR] [--imagefolder] [--device auto]
        [--tag TAG] [--baseline random|none] [--config PATH] [--max-synthesis-seconds S]

Synthesis runs ``train_synthetic.py fit --config configs/METHOD/DATASET_ipcIPC.yaml`` (through
``dcl.cli.train_main``) with a second config that applies the scaling options and replaces the
evaluation callback (evaluation is timed separately here). The set is then evaluated with the
protocol (``dcl.evaluation.run_protocol``): fresh networks trained on it and tested on the full
real test set, and the random-real baseline with the same networks, epochs and augmentation.
Writes ``results/METHOD_DATASET_ipcIPC[_TAG].json``. ``--imagefolder`` reads DATASET from an
image folder at ``--data-root`` (e.g. the CIFAR-10 JPEG tree) and compares with DATASET's
published numbers. ``--max-synthesis-seconds`` stops synthesis early when the time runs out and
records the steps done.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from benchmarks.common import REPO, command_line, environment, now, sync
from dcl.baselines import select_baseline
from dcl.cli import train_main
from dcl.evaluation import expand_models, resolve_augment, run_protocol, summarize
from dcl.evaluation.report import write_json

EVALUATION_CALLBACK = "dcl.evaluation.SynthesisEvaluation"


class Progress(L.Callback):
    """Prints progress now and then, times the steps, and stops at a time budget.

    Args:
        budget_s: Stop after this many seconds of steps (``None``: never).
        every: Print every this many steps.
    """

    def __init__(self, budget_s: float | None = None, every: int = 100) -> None:
        self.budget_s, self.every = budget_s, every
        self.start: float | None = None
        self.seconds = 0.0
        self.stopped_early = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        """Start the clock at the first step."""
        if self.start is None:
            self.start = now()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Report, and ask the trainer to stop when the budget is spent."""
        sync(pl_module.device)
        self.seconds = now() - self.start
        step = trainer.global_step
        if step % self.every == 0 or step == trainer.max_steps:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            print(
                f"step {step}/{trainer.max_steps}  loss {float(loss):.4f}  {self.seconds:.0f} s",
                flush=True,
            )
        if self.budget_s is not None and self.seconds > self.budget_s:
            if step < trainer.max_steps:
                self.stopped_early = True
                print(f"time budget of {self.budget_s:.0f} s spent after {step} steps", flush=True)
            trainer.should_stop = True


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
    p.add_argument("--models", default=None, help="Evaluation pool or names (default backbone).")
    p.add_argument("--data-root", default=None, help="Dataset folder (default: the config's).")
    p.add_argument("--imagefolder", action="store_true", help="--data-root is an image folder.")
    p.add_argument("--cache-dir", default=None, help="Dataset cache (default $DCL_CACHE_DIR).")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda.")
    p.add_argument("--seed", type=int, default=None, help="Run seed (default: the config's).")
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


def _callback_args(config: dict) -> dict:
    for cb in config.get("trainer", {}).get("callbacks") or []:
        if isinstance(cb, dict) and cb.get("class_path") == EVALUATION_CALLBACK:
            return cb.get("init_args", {})
    return {}


def synthesis_config(args: argparse.Namespace, shipped: dict, run_dir: Path) -> dict:
    """The second config: scaling, device, data location, and the callbacks replaced."""
    callbacks = [
        cb
        for cb in shipped.get("trainer", {}).get("callbacks") or []
        if not (isinstance(cb, dict) and cb.get("class_path") == EVALUATION_CALLBACK)
    ]
    callbacks.append(
        {
            "class_path": "benchmarks.reproduce.Progress",
            "init_args": {"budget_s": args.max_synthesis_seconds},
        }
    )
    trainer: dict[str, Any] = {
        "callbacks": callbacks,
        "default_root_dir": str(run_dir),
        "enable_progress_bar": False,
    }
    if args.steps is not None:
        trainer["max_steps"] = args.steps
    if args.device != "auto":
        trainer["accelerator"] = "cpu" if args.device == "cpu" else "gpu"
    override: dict[str, Any] = {"trainer": trainer, "model": {}, "data": {}}
    if args.batch_real is not None:
        override["model"]["batch_real"] = args.batch_real
    if args.data_root is not None:
        override["data"]["root"] = args.data_root
    if args.imagefolder:
        override["data"]["dataset"] = "imagefolder"
    if args.cache_dir is not None:
        override["data"]["cache_dir"] = args.cache_dir
    if args.seed is not None:
        override["seed_everything"] = args.seed
    if args.compile:
        override["model"]["compile"] = True
    return override


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Synthesise, evaluate, write the result JSON and return it."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = f"{args.method}_{args.dataset}_ipc{args.ipc}" + (f"_{args.tag}" if args.tag else "")
    default_config = REPO / "configs" / args.method / f"{args.dataset}_ipc{args.ipc}.yaml"
    config_path = Path(args.config or default_config)
    shipped = yaml.safe_load(config_path.read_text())
    run_dir = Path(args.run_dir or REPO / "runs" / "reproduce" / name)
    run_dir.mkdir(parents=True, exist_ok=True)
    override = synthesis_config(args, shipped, run_dir)
    override_path = run_dir / "reproduce_override.yaml"
    override_path.write_text(yaml.safe_dump(override, sort_keys=False))
    cli_args = ["fit", "--config", str(config_path), "--config", str(override_path)]
    for item in args.override:
        key, _, value = item.partition("=")
        cli_args += [f"--{key}", value]
    print("train_synthetic.py " + shlex.join(cli_args), flush=True)
    start = now()
    cli = train_main(cli_args)
    synthesis_seconds = now() - start
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    progress = next(cb for cb in trainer.callbacks if isinstance(cb, Progress))
    syn = model.synthetic_set()

    device = trainer.strategy.root_device
    evaluation = _callback_args(shipped)
    num_models = args.num_models or evaluation.get("num_models", 5)
    augment = resolve_augment(args.method, syn.info.name)
    epochs = args.epochs or evaluation.get("epochs") or (300 if augment == "none" else 1000)
    models = expand_models(args.models, syn.backbone)
    protocol = dict(
        num_models=num_models,
        epochs=epochs,
        augment=augment,
        seed=syn.seed,
        device=device,
        progress=False,
        compile=args.compile,
    )
    test = data.test.to(device)
    print(
        f"evaluating: {len(models)} x {num_models} model(s) x {epochs} epochs, augment "
        f"{augment}, on {device}",
        flush=True,
    )
    start = now()
    results = run_protocol(syn, test, models, **protocol)
    eval_seconds = now() - start
    baseline = None
    if args.baseline != "none":
        base = select_baseline(args.baseline, data.train, args.ipc, seed=syn.seed, device=device)
        start = now()
        base_results = run_protocol(base, test, models, **protocol)
        baseline = {
            "method": args.baseline,
            "results": _summaries(base_results),
            "evaluation_seconds": now() - start,
        }
        baseline.update(
            mean=baseline["results"][models[0]]["mean"], std=baseline["results"][models[0]]["std"]
        )
    main_arch = _summaries(results)[models[0]]
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
        "results": _summaries(results),
        "baseline": baseline,
        "steps": trainer.global_step,
        "published_steps": shipped["trainer"]["max_steps"],
        "stopped_at_time_budget": progress.stopped_early,
        "batch_real": model.hparams.batch_real,
        "published_batch_real": shipped["model"].get("batch_real"),
        "num_models": num_models,
        "epochs": epochs,
        "published_num_models": evaluation.get("num_models"),
        "published_epochs": evaluation.get("epochs"),
        "models": models,
        "augment": augment,
        "synthesis_seconds": synthesis_seconds,
        "synthesis_step_seconds": progress.seconds,
        "evaluation_seconds": eval_seconds,
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
        f"{name}: {document['mean']:.2f} +- {document['std']:.2f}{base_text} "
        f"({document['steps']} steps); results: {out}",
        flush=True,
    )
    return document


def _summaries(results: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    return {arch: summarize(accs) for arch, accs in results.items()}


if __name__ == "__main__":  # run the importable module's main, so callbacks are its classes
    from benchmarks.reproduce import main as module_main

    module_main()
