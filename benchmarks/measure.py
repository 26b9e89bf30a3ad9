"""One measurement each: our synthesis steps, the reference's, or the evaluation protocol.

Used by ``benchmarks.throughput``; ``run_job`` runs a measurement in this process or in a fresh
one (``python -m benchmarks.throughput --worker JOB``) so that its CPU memory peak is its own.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from typing import Any

import lightning as L
import torch

from benchmarks.common import (
    RandomDataModule,
    fresh_autotune_cache,
    now,
    peak_memory,
    reset_peak,
    resolve_device,
    rss_mb,
    run_worker,
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
    compile: bool = False
    channels_last: bool = False
    # The default path: autotune decides, for a run of ``planned_steps`` (the published count:
    # whether compiling pays depends on it); timing stops after ``warmup + steps``.
    autotune: bool = False
    planned_steps: int | None = None


def make_data(job: Job) -> RealDataModule:
    """The real-data module of a job: random images of the shape, or the real dataset."""
    if job.data_root is None:
        return RandomDataModule(job.shape, seed=job.seed)
    name = {"cifar10": "imagefolder"}.get(job.shape, job.shape)
    return RealDataModule(name, root=job.data_root, seed=job.seed)


def _times(
    times: list[float], cpu: list[float], losses: list[float], job: Job, device: torch.device
) -> dict:
    timed = times[job.warmup :]
    return {
        "median_ms": 1000 * statistics.median(timed),
        # Process CPU time (all threads): steadier than wall time on a shared machine.
        "cpu_median_ms": 1000 * statistics.median(cpu[job.warmup :]),
        "mean_ms": 1000 * statistics.fmean(timed),
        "min_ms": 1000 * min(timed),
        "steps_timed": len(timed),
        "first_losses": losses[:3],
        "warmup_ms": [1000 * t for t in times[: job.warmup]],  # includes any compilation
        **peak_memory(device),
    }


class StepTimer(L.Callback):
    """Wall-clock time of every training step (synchronised on GPU) and its loss."""

    def __init__(self, warmup: int, device: torch.device, stop_after: int | None = None) -> None:
        self.warmup, self.device, self.stop_after = warmup, device, stop_after
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.losses: list[float] = []
        self.setup_mb = 0.0
        self.probe_s = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start timing the module's own fit start (autotune's probe runs there)."""
        self.fit_start = now()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Memory in use before the first step, and how long the fit start took."""
        self.probe_s = now() - self.fit_start
        self.setup_mb = rss_mb()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        """Start the clock (after the warm-up, also the memory peak)."""
        sync(self.device)
        if len(self.times) == self.warmup:
            reset_peak(self.device)
        self.start, self.cpu_start = now(), time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Stop the clock."""
        sync(self.device)
        self.times.append(now() - self.start)
        self.cpu.append(time.process_time() - self.cpu_start)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))
        if self.stop_after is not None and len(self.times) >= self.stop_after:
            trainer.should_stop = True  # a long planned run, timed for its first steps


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
        # The default row decides everything, as a user's run does; the others time the variant
        # they name (autotune off: the plain path elsewhere).
        compile=None if job.autotune else job.compile,
        channels_last=None if job.autotune else job.channels_last,
        autotune=job.autotune,
        image_log_every_n_steps=0,
    )
    timer = StepTimer(job.warmup, device, stop_after=job.warmup + job.steps)
    planned = job.planned_steps if job.autotune and job.planned_steps else job.warmup + job.steps
    accelerator, devices = ("gpu", [device.index or 0]) if device.type == "cuda" else ("cpu", 1)
    with tempfile.TemporaryDirectory() as tmp, fresh_autotune_cache(tmp):
        trainer = L.Trainer(
            max_steps=planned,
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
        **_times(timer.times, timer.cpu, timer.losses, job, device),
        "probe_s": timer.probe_s,  # autotune's probe (first run: nothing cached), compiles included
        "path": model.speed_path,
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
    times, cpu, losses = [], [], []
    for step in range(job.warmup + job.steps):
        sync(device)
        if step == job.warmup:
            reset_peak(device)
        start, cpu_start = now(), time.process_time()
        losses.append(ref.step(step))
        sync(device)
        times.append(now() - start)
        cpu.append(time.process_time() - cpu_start)
    size = train.images.numel() * (train.images.element_size() + ref.images_all.element_size())
    return {
        **_times(times, cpu, losses, job, device),
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
    return run_worker("throughput", job)
