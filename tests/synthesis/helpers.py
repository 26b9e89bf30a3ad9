"""Running synthesis under a real Trainer, for the synthesis tests."""

import json
from pathlib import Path

import lightning as L
import torch

from dcl.data.module import RealDataModule
from dcl.methods import DM
from dcl.synthesis.module import SynthesisModule


class SaveImagesPerRank(L.Callback):
    """Writes every rank's synthetic images at the end of training (for DDP checks)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save(
            pl_module.images.detach().cpu(), self.folder / f"images_rank{trainer.global_rank}.pt"
        )


class DestroyProcessGroup(L.Callback):
    """Ends a spawned rank's process group at the end of fit.

    Lightning leaves it to interpreter exit, where a gloo worker thread still running now and
    then aborts the process ("terminate called without an active exception", SIGABRT): seen on a
    loaded 2-core machine after the run had finished and saved everything.
    """

    def on_fit_end(self, trainer, pl_module) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def synthesize(
    root: Path,
    cache_dir: Path,
    steps: int,
    *,
    devices: int = 1,
    strategy: str = "auto",
    ckpt_path: str | None = None,
    callbacks: list | None = None,
    seed: int = 0,
    precision: str = "32-true",
    **model_kwargs,
) -> tuple[SynthesisModule, L.Trainer]:
    L.seed_everything(seed, verbose=False)
    data = RealDataModule("digits", cache_dir=str(cache_dir))
    settings = {"method": "dm", "ipc": 1, "batch_real": 8, "image_log_every_n_steps": 0}
    settings.update(model_kwargs)
    model = SynthesisModule(data.info, **settings)
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        default_root_dir=str(root),
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        callbacks=[*(callbacks or []), *([DestroyProcessGroup()] if devices > 1 else [])],
        enable_checkpointing=False,
        precision=precision,
    )
    trainer.fit(model, data, ckpt_path=ckpt_path)
    return model, trainer


class NaNOnRankOne(DM):
    """DM whose loss is NaN on rank 1 only, at step 1: the other rank's loss stays finite.

    Chosen by class path: ``SynthesisModule(method="tests.synthesis.helpers.NaNOnRankOne")``.
    """

    def loss(self, ctx):
        loss = super().loss(ctx)
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        return loss * float("nan") if rank == 1 and ctx.step == 1 else loss


class FakeTimer:
    """Stands in for ``dcl.tuning.time_call``: 1 s a step, halved per favoured option it runs.

    Records every candidate's options in ``seen``; with ``run`` it also runs the step twice (not
    a compiled one), as the real timer would, so that a probe that leaves a trace shows it.
    """

    def __init__(self, favour: dict, run: bool = True, seconds: float = 1.0) -> None:
        self.favour, self.run, self.seconds, self.seen = favour, run, seconds, []

    def __call__(self, fn, device, repeats=3, warmup=1) -> float:
        self.seen.append(dict(fn.options))
        for _ in range(2 if self.run and not fn.options.get("compile") else 0):
            fn()
        hits = sum(fn.options.get(k) == v for k, v in self.favour.items())
        return self.seconds * 0.5**hits


class FakeSpeedsPerRank(L.Callback):
    """In each spawned rank, a ``FakeTimer`` favouring ``favour[rank]``; writes what each applied.

    ``folder/autotune_rank{r}.json``: the rank's applied options and its timer's candidates.
    """

    def __init__(self, folder: Path, favour: dict[int, dict]) -> None:
        self.folder, self.favour = Path(folder), favour

    def setup(self, trainer, pl_module, stage) -> None:
        from dcl import tuning
        from dcl.synthesis import autotune

        self.saved = (
            tuning.time_call,
            tuning.compiler_available,
            tuning.has_bf16_units,
            autotune.MIN_PROBE_STEPS,
        )
        self.timer = FakeTimer(self.favour[trainer.global_rank], run=False)
        tuning.time_call, tuning.compiler_available = self.timer, lambda device: False
        tuning.has_bf16_units = lambda device: False  # whatever this machine has
        autotune.MIN_PROBE_STEPS = 0

    def teardown(self, trainer, pl_module, stage) -> None:
        from dcl import tuning
        from dcl.synthesis import autotune

        (
            tuning.time_call,
            tuning.compiler_available,
            tuning.has_bf16_units,
            autotune.MIN_PROBE_STEPS,
        ) = self.saved

    def on_train_end(self, trainer, pl_module) -> None:
        applied = {
            "class_chunk": pl_module.matching.class_chunk,
            "channels_last": pl_module.hparams.channels_last,
            "seen": self.timer.seen,
        }
        path = self.folder / f"autotune_rank{trainer.global_rank}.json"
        path.write_text(json.dumps(applied))
