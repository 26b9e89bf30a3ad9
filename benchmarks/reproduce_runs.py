"""Synthesis runs of ``benchmarks.reproduce``: the shipped config plus a scaling override.

Trajectory matching (MTT) also needs an expert buffer: ``prepare_buffer`` trains one on the very
data module the synthesis reads (or takes ``--buffer``), and the override points the method at it.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shlex
from pathlib import Path
from typing import Any

import lightning as L
import yaml

from benchmarks.common import REPO, now, sync
from benchmarks.reproduce_selection import snapshot_config
from dcl.cli import train_main

EVALUATION_CALLBACK = "dcl.evaluation.SynthesisEvaluation"
CHECKPOINT_CALLBACK = "lightning.pytorch.callbacks.ModelCheckpoint"
# The MTT release's buffer.py, behind every published MTT number: 100 experts x 50 epochs.
PUBLISHED_EXPERTS, PUBLISHED_EXPERT_EPOCHS = 100, 50


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
    """The second config: scaling, device, data location, and the callbacks replaced.

    With ``args.checkpoint_every`` the shipped checkpoint callback gives way to one that saves
    ``last.ckpt`` in ``<run_dir>/checkpoints`` that often, which ``synthesise`` resumes from.
    """
    every = getattr(args, "checkpoint_every", None)
    replaced = {EVALUATION_CALLBACK} | ({CHECKPOINT_CALLBACK} if every else set())
    callbacks = [
        cb
        for cb in shipped.get("trainer", {}).get("callbacks") or []
        if not (isinstance(cb, dict) and cb.get("class_path") in replaced)
    ]
    if every:
        checkpoints = {"dirpath": str(checkpoint_dir(run_dir)), "every_n_train_steps": every}
        callbacks.append(
            {"class_path": CHECKPOINT_CALLBACK, "init_args": {**checkpoints, "save_last": True}}
        )
    if getattr(args, "select_every", 0):  # the periodic sets that selection chooses among
        callbacks.append(snapshot_config(args.select_every))
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
    override: dict[str, Any] = {"trainer": trainer, "model": {}, "data": data_override(args)}
    if args.batch_real is not None:
        override["model"]["batch_real"] = args.batch_real
    method_args = dict(shipped.get("model", {}).get("method_args") or {})
    method_args.update(getattr(args, "method_args", None) or {})
    if getattr(args, "buffer_dir", None) is not None:
        method_args["buffer"] = str(args.buffer_dir)
    if method_args:  # the whole dict: a later config replaces the shipped one, not merges
        override["model"]["method_args"] = method_args
    if args.seed is not None:
        override["seed_everything"] = args.seed
    if args.compile:
        override["model"]["compile"] = True
    return override


def data_override(args: argparse.Namespace) -> dict[str, Any]:
    """The ``data`` options the scaling flags set (location, image folder, cache)."""
    data: dict[str, Any] = {}
    if args.data_root is not None:
        data["root"] = args.data_root
    if args.imagefolder:
        data["dataset"] = "imagefolder"
    if args.cache_dir is not None:
        data["cache_dir"] = args.cache_dir
    return data


def effective_section(args: argparse.Namespace, shipped: dict, section: str) -> dict[str, Any]:
    """A config section as synthesis sees it: shipped, then the override, then ``--override``."""
    out = dict(shipped.get(section) or {})
    if section == "data":
        out.update(data_override(args))
    for item in args.override:
        key, _, value = item.partition("=")
        head, _, rest = key.partition(".")
        if head == section and rest and "." not in rest:
            out[rest] = yaml.safe_load(value)
    return out


def pin_validation_split(args: argparse.Namespace, shipped: dict, first_seed: int) -> None:
    """Hold out one validation split for every synthesis seed of an MTT run (``data.val_seed``).

    The experts are trained once and shared by every seed; a split that followed each run's
    seed would hold out images some experts learned, which the buffer rightly refuses. Leaves
    a split already pinned (by the config or ``--override``) as it is.
    """
    data = effective_section(args, shipped, "data")
    if data.get("val_size") and data.get("val_seed") is None:
        args.override = [*args.override, f"data.val_seed={first_seed}"]


def expert_data(args: argparse.Namespace, shipped: dict) -> Any:
    """The data module synthesis will read (dataset, root, image folder, cache, ZCA), for experts.

    The same options give the same ``info`` and ZCA fit, so the buffer validates against the run
    (an ``--imagefolder`` run's experts learn the image folder, ``info.name`` ``imagefolder``).
    """
    from dcl.data import RealDataModule

    data = effective_section(args, shipped, "data")
    accepted = inspect.signature(RealDataModule).parameters
    return RealDataModule(**{k: v for k, v in data.items() if k in accepted})


def prepare_buffer(args: argparse.Namespace, shipped: dict) -> dict[str, Any]:
    """MTT's expert buffer: ``--buffer``, else ``--experts`` trained into ``<run-dir>/NAME/buffer``.

    With ``--max-expert-seconds`` the experts are trained one after another and no further one
    is started once the next (at the mean time per expert so far) would overrun the budget; the
    first is always trained. Loading (and whitening) the data is timed apart (``data_seconds``).
    Sets ``args.buffer_dir`` for the synthesis override.

    Returns:
        The ``experts`` entry of the result document: buffer, experts and epochs it holds, the
        seconds spent training them here, and the published 100 x 50.
    """
    from dcl.methods.mtt import ExpertBuffer, ExpertSettings, train_experts

    record: dict[str, Any] = {
        "published_num_experts": PUBLISHED_EXPERTS,
        "published_epochs": PUBLISHED_EXPERT_EPOCHS,
    }
    if args.buffer is not None:
        buffer = ExpertBuffer(args.buffer)
        args.buffer_dir = Path(args.buffer).resolve()
        record.update(
            buffer=str(args.buffer_dir),
            trained_here=False,
            num_experts=buffer.num_experts,
            epochs=buffer.epochs,
            seconds=None,
            network=buffer.manifest["network"],
            dataset=buffer.manifest["dataset"],
            zca=buffer.manifest["zca"],
        )
        return record
    if args.experts < 1 or args.expert_epochs < 1:
        raise SystemExit("--experts and --expert-epochs must be at least 1.")
    out = (Path(args.run_dir or REPO / "runs" / "reproduce") / run_name(args) / "buffer").resolve()
    model = effective_section(args, shipped, "model")
    settings = ExpertSettings(network=model.get("backbone", "ConvNet"), epochs=args.expert_epochs)
    datamodule = expert_data(args, shipped)
    accelerator = {"auto": "auto", "cpu": "cpu"}.get(args.device, "cuda")
    budget = args.max_expert_seconds
    present = ExpertBuffer(out).num_experts if (out / "manifest.json").is_file() else 0
    print(
        f"training {args.experts} {settings.network} expert(s) x {settings.epochs} epochs on "
        f"{datamodule.dataset} (zca {datamodule.zca}) into {out}"
        + (f", budget {budget:.0f} s" if budget is not None else ""),
        flush=True,
    )
    start = now()
    datamodule.prepare_data()  # load (and whiten) before the clock: the experts' time is theirs
    datamodule.setup("fit")
    data_seconds = now() - start
    start, counts = now(), [args.experts] if budget is None else range(1, args.experts + 1)
    stopped = False
    for n in counts:
        spent = now() - start
        if n > 1 and budget is not None and spent + spent / (n - 1) > budget:
            stopped = True
            print(f"expert budget of {budget:.0f} s: stopping at {n - 1} expert(s)", flush=True)
            break
        buffer = train_experts(
            datamodule, out, n, settings, accelerator=accelerator, progress=False
        )
        print(f"{buffer.num_experts} expert(s) after {now() - start:.0f} s", flush=True)
    seconds = now() - start
    args.buffer_dir = out
    record.update(
        buffer=str(out),
        trained_here=True,
        num_experts=buffer.num_experts,
        epochs=buffer.epochs,
        seconds=seconds,
        data_seconds=data_seconds,
        requested_experts=args.experts,
        already_present=present,
        budget_s=budget,
        stopped_at_time_budget=stopped,
        network=settings.network,
        dataset=buffer.manifest["dataset"],
        zca=buffer.manifest["zca"],
        settings=settings.training(),
    )
    return record


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
    last = checkpoint_dir(run_dir) / "last.ckpt"
    if getattr(args, "checkpoint_every", None) and last.is_file():
        cli_args += ["--ckpt_path", str(last)]  # an interrupted (or finished) run goes on
    print("train_synthetic.py " + shlex.join(cli_args), flush=True)
    start = now()
    cli = train_main(cli_args)
    return cli, now() - start, override


def finished_set(path: Path, arguments: list[str]) -> dict[str, Any] | None:
    """A set's record from an earlier run of the same command, else ``None``.

    Each set's accuracies are written as soon as they are measured, so an interrupted list of
    sets loses at most the set under way; a record made by another command is not reused.
    """
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("argv") == arguments else None


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a resumable synthesis run keeps ``last.ckpt``."""
    return run_dir / "checkpoints"


def run_name(args: argparse.Namespace) -> str:
    """``METHOD_DATASET_ipcN[_TAG]``: the result file's and run folders' name."""
    return f"{args.method}_{args.dataset}_ipc{args.ipc}" + (f"_{args.tag}" if args.tag else "")
