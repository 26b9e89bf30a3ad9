r"""Synthesis throughput of dcl against the authors'-style reference, and evaluation cost.

Usage::

    python -m benchmarks.throughput --method dm dc --dataset-shape mnist cifar10 --ipc 10 \\
        --batch-real 256 --steps 10 --warmup 2 --device cpu --output results/throughput_cpu.json

For each method and shape it times ``--steps`` synthesis steps after ``--warmup`` ones (median,
with ``torch.cuda.synchronize`` around every step on GPU): ours through a Lightning ``Trainer``
running ``SynthesisModule`` (exactly what ``train_synthetic.py`` runs), and the reference of
``benchmarks/reference.py``. Both start from the same images and draw the same networks, real
batches and augmentations, so their first losses must agree (``loss_rel_diff``). It also times
the evaluation protocol (``run_protocol``) for ``--eval-models`` networks x ``--eval-epochs``.
Each measurement runs in its own subprocess (unless ``--no-isolate``), so the CPU peak (max RSS,
a process-wide high-water mark) belongs to that measurement alone; on GPU the peak is CUDA's
max allocated memory during the timed steps. Random images of the dataset's shape are used
unless ``--data-root`` points at the real data (MNIST's torchvision root, CIFAR-10 as an image
folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch

from benchmarks.common import (
    REPO,
    SHAPES,
    RandomDataModule,
    environment,
    now,
    peak_memory,
    reset_peak,
    resolve_device,
    rss_mb,
    sync,
)
from benchmarks.reference import ReferenceSynthesis
from dcl.data import RealDataModule, SyntheticSet
from dcl.evaluation import resolve_augment, run_protocol
from dcl.synthesis import SynthesisModule


@dataclasses.dataclass
class Job:
    """One measurement: ``kind`` is ours, reference or eval."""

    kind: str
    method: str
    shape: str
    ipc: int
    batch_real: int
    backbone: str
    device: str
    steps: int
    warmup: int
    eval_models: int
    eval_epochs: int
    seed: int = 0
    data_root: str | None = None
    threads: int | None = None


def make_data(job: Job) -> RealDataModule:
    """The real-data module of a job: random images of the shape, or the real dataset."""
    if job.data_root is None:
        return RandomDataModule(job.shape, seed=job.seed)
    name = "mnist" if job.shape == "mnist" else "imagefolder"
    return RealDataModule(name, root=job.data_root, seed=job.seed)


def _times(times: list[float], losses: list[float], job: Job, device: torch.device) -> dict:
    timed = times[job.warmup :]
    return {
        "median_ms": 1000 * statistics.median(timed),
        "mean_ms": 1000 * statistics.fmean(timed),
        "min_ms": 1000 * min(timed),
        "steps_timed": len(timed),
        "first_losses": losses[:3],
        **peak_memory(device),
    }


class StepTimer(L.Callback):
    """Wall-clock time of every training step (synchronised on GPU) and its loss."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.times: list[float] = []
        self.losses: list[float] = []
        self.setup_mb = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Memory in use before the first step."""
        self.setup_mb = rss_mb()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        """Start the clock (after the warm-up, also the memory peak)."""
        sync(self.device)
        if len(self.times) == self.warmup:
            reset_peak(self.device)
        self.start = now()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Stop the clock."""
        sync(self.device)
        self.times.append(now() - self.start)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))


def run_ours(job: Job) -> dict[str, Any]:
    """Time ``SynthesisModule`` steps under a Lightning ``Trainer``."""
    device = resolve_device(job.device)
    L.seed_everything(job.seed, verbose=False)
    data = make_data(job)
    model = SynthesisModule(
        data.info,
        method=job.method,
        ipc=job.ipc,
        backbone=job.backbone,
        init="real",
        batch_real=job.batch_real,
        image_log_every_n_steps=0,
    )
    timer = StepTimer(job.warmup, device)
    accelerator, devices = ("gpu", [device.index or 0]) if device.type == "cuda" else ("cpu", 1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(
            max_steps=job.warmup + job.steps,
            accelerator=accelerator,
            devices=devices,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[timer],
            default_root_dir=tmp,
        )
        trainer.fit(model, datamodule=data)
    train = data.train.images
    return {
        **_times(timer.times, timer.losses, job, device),
        "setup_mb": timer.setup_mb if device.type == "cpu" else None,
        "data_mb": train.numel() * train.element_size() / 2**20,
    }


def run_reference(job: Job) -> dict[str, Any]:
    """Time the authors'-style reference steps with the same draws."""
    device = resolve_device(job.device)
    data = make_data(job)
    data.setup()
    train = data.train.to(device)
    ref = ReferenceSynthesis(job.method, train, job.ipc, job.batch_real, job.backbone, job.seed)
    setup_mb = rss_mb()
    times, losses = [], []
    for step in range(job.warmup + job.steps):
        sync(device)
        if step == job.warmup:
            reset_peak(device)
        start = now()
        losses.append(ref.step(step))
        sync(device)
        times.append(now() - start)
    size = train.images.numel() * (train.images.element_size() + ref.images_all.element_size())
    return {
        **_times(times, losses, job, device),
        "setup_mb": setup_mb if device.type == "cpu" else None,
        "data_mb": size / 2**20,
    }


def run_eval(job: Job) -> dict[str, Any]:
    """Time ``run_protocol``: ``eval_models`` fresh networks x ``eval_epochs`` on a set."""
    device = resolve_device(job.device)
    data = make_data(job)
    data.setup()
    g = torch.Generator().manual_seed(job.seed)
    images = data.train.sample(job.ipc, g).flatten(0, 1)
    labels = torch.arange(data.info.num_classes).repeat_interleave(job.ipc)
    syn = SyntheticSet(images, labels, data.info, job.ipc, job.method, backbone=job.backbone)
    test = data.test.to(device)
    augment = resolve_augment(job.method, job.shape)
    reset_peak(device)
    sync(device)
    start = now()
    run_protocol(
        syn,
        test,
        [job.backbone],
        job.eval_models,
        job.eval_epochs,
        augment=augment,
        seed=job.seed,
        device=device,
        progress=False,
    )
    sync(device)
    seconds = now() - start
    per_epoch = 1000 * seconds / (job.eval_models * job.eval_epochs)
    return {
        "models": job.eval_models,
        "epochs": job.eval_epochs,
        "augment": augment,
        "seconds": seconds,
        "ms_per_model_epoch": per_epoch,
        "test_images": len(test),
        **peak_memory(device),
    }


WORKERS = {"ours": run_ours, "reference": run_reference, "eval": run_eval}


def run_job(job: Job, isolate: bool) -> dict[str, Any]:
    """Run a measurement here, or in a fresh Python process so its memory peak is its own."""
    if not isolate:
        if job.threads:
            torch.set_num_threads(job.threads)
        return WORKERS[job.kind](job)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.throughput",
            "--worker",
            json.dumps(dataclasses.asdict(job)),
            "--worker-output",
            str(out),
        ]
        subprocess.run(cmd, cwd=REPO, check=True)
        return json.loads(out.read_text())


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--method", nargs="+", default=["all"], choices=["dm", "dc", "dsa", "all"])
    p.add_argument("--dataset-shape", nargs="+", default=["mnist"], choices=sorted(SHAPES))
    p.add_argument("--ipc", type=int, default=10, help="Images per class.")
    p.add_argument("--batch-real", type=int, default=256, help="Real images per class per step.")
    p.add_argument("--backbone", default="ConvNet")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
    p.add_argument("--steps", type=int, default=20, help="Timed steps (median reported).")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps first.")
    p.add_argument("--eval-models", type=int, default=2, help="0 skips the evaluation timing.")
    p.add_argument("--eval-epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="Real data instead of random images.")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads.")
    p.add_argument("--no-isolate", action="store_true", help="Measure in this process.")
    p.add_argument(
        "--output", default=None, help="JSON file (default results/throughput_<device>.json)."
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-output", help=argparse.SUPPRESS)
    return p


def _row(job: Job, ours: dict, ref: dict, evaluation: dict | None) -> dict[str, Any]:
    first_ours, first_ref = ours["first_losses"][0], ref["first_losses"][0]
    info = SHAPES[job.shape][0]
    return {
        "method": job.method,
        "shape": job.shape,
        "channels": info.channels,
        "image_size": info.image_size,
        "num_classes": info.num_classes,
        "ipc": job.ipc,
        "batch_real": job.batch_real,
        "backbone": job.backbone,
        "ours": ours,
        "reference": ref,
        "ratio": ref["median_ms"] / ours["median_ms"],
        "loss_rel_diff": abs(first_ours - first_ref) / max(abs(first_ref), 1e-12),
        "eval": evaluation,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table, write the JSON and return it."""
    args = build_parser().parse_args(argv)
    if args.worker:  # a subprocess measuring one job
        job = Job(**json.loads(args.worker))
        result = run_job(job, isolate=False)
        Path(args.worker_output).write_text(json.dumps(result))
        return result
    device = resolve_device(args.device)
    methods = ["dm", "dc", "dsa"] if "all" in args.method else list(dict.fromkeys(args.method))
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, evals = [], {}
    for shape in args.dataset_shape:
        for method in methods:
            job = Job(
                "ours",
                method,
                shape,
                args.ipc,
                args.batch_real,
                args.backbone,
                str(device),
                args.steps,
                args.warmup,
                args.eval_models,
                args.eval_epochs,
                args.seed,
                args.data_root,
                args.threads,
            )
            ours = run_job(job, not args.no_isolate)
            ref = run_job(dataclasses.replace(job, kind="reference"), not args.no_isolate)
            key = (shape, resolve_augment(method, shape))
            if args.eval_models > 0 and key not in evals:
                evals[key] = run_job(dataclasses.replace(job, kind="eval"), not args.no_isolate)
            rows.append(_row(job, ours, ref, evals.get(key)))
            r = rows[-1]
            print(
                f"{method:>4} {shape:>8} ipc {args.ipc} batch {args.batch_real}: ours "
                f"{ours['median_ms']:9.1f} ms  reference {ref['median_ms']:9.1f} ms  "
                f"ratio {r['ratio']:5.2f}  peak {ours['peak_mb']:7.0f} / {ref['peak_mb']:7.0f}"
                f" MiB ({ours['kind']})  loss diff {r['loss_rel_diff']:.1e}",
                flush=True,
            )
    document = {
        "kind": "throughput",
        "environment": environment(device),
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
        "isolated": not args.no_isolate,
        "command": "python -m benchmarks.throughput " + " ".join(argv or sys.argv[1:]),
        "results": rows,
    }
    out = Path(args.output or REPO / "results" / f"throughput_{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results: {out}")
    return document


if __name__ == "__main__":
    main()
