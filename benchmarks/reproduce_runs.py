"""Synthesis runs of ``benchmarks.reproduce``: the shipped config plus a scaling override."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import lightning as L
import yaml

from benchmarks.common import REPO, now, sync
from dcl.cli import train_main

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


def callback_args(config: dict) -> dict:
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
            "class_path": "benchmarks.reproduce_runs.Progress",
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


def synthesise(
    args: argparse.Namespace, shipped: dict, config_path: Path, seed: int | None
) -> tuple[Any, float, dict]:
    """One synthesis run of the shipped config with the scaling options.

    Returns:
        The ``LightningCLI`` that ran, its seconds, and the override config it applied.
    """
    name = run_name(args) + ("" if seed is None else f"_seed{seed}")
    run_dir = Path(args.run_dir or REPO / "runs" / "reproduce") / name
    run_dir.mkdir(parents=True, exist_ok=True)
    override = synthesis_config(args, shipped, run_dir)
    if seed is not None:
        override["seed_everything"] = seed
    override_path = run_dir / "reproduce_override.yaml"
    override_path.write_text(yaml.safe_dump(override, sort_keys=False))
    cli_args = ["fit", "--config", str(config_path), "--config", str(override_path)]
    for item in args.override:
        key, _, value = item.partition("=")
        cli_args += [f"--{key}", value]
    print("train_synthetic.py " + shlex.join(cli_args), flush=True)
    start = now()
    cli = train_main(cli_args)
    return cli, now() - start, override


def run_name(args: argparse.Namespace) -> str:
    """``METHOD_DATASET_ipcN[_TAG]``: the result file's and run folders' name."""
    return f"{args.method}_{args.dataset}_ipc{args.ipc}" + (f"_{args.tag}" if args.tag else "")
