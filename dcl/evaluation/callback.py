"""Evaluation during and after synthesis, through the same protocol code as evaluate.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning as L

from dcl.evaluation.pools import expand_models
from dcl.evaluation.protocol import recipes, run_protocol
from dcl.evaluation.recipe import AUGMENTS
from dcl.evaluation.report import evaluation_document, format_table, summaries, write_json


class SynthesisEvaluation(L.Callback):
    """Trains fresh networks on the current synthetic set every N steps and at the end.

    Runs on global rank 0 only, without a nested Trainer. Accuracies go to TensorBoard
    (``eval/<arch>``) and the progress bar; the final table (with the baseline beside it) is
    printed and written to ``evaluation.json`` next to ``synthetic.pt``.

    Args:
        every_n_steps: Evaluate every this many image updates (0: only at the end).
        num_models: Fresh networks per architecture.
        epochs: The release's E per network (trains epochs 0..E); ``None``: the published
            recipe (1000 with augmentation, 300 without).
        models: Pool letter or comma-separated names (default: ``S``, the synthesis backbone
            with batch norm swapped for instance norm, as the release evaluates).
        augment: auto, dsa, dc, crop_noise or none (auto: the release's recipe for the method,
            dataset and network, with the set's own DSA strategy).
        baseline: Also evaluate this coreset at the same ipc at the end (e.g. ``random``);
            ``None`` for no baseline.
        at_end: Evaluate once training ends.
        compile: Train and test through ``torch.compile``'d forwards (see ``run_protocol``).
    """

    def __init__(
        self,
        every_n_steps: int = 0,
        num_models: int = 3,
        epochs: int | None = None,
        models: str | None = None,
        augment: str = "auto",
        baseline: str | None = "random",
        at_end: bool = True,
        compile: bool = False,
    ) -> None:
        if augment not in AUGMENTS:
            raise ValueError(f"Unknown augment '{augment}'; choose one of {', '.join(AUGMENTS)}.")
        self.every_n_steps, self.num_models, self.epochs = every_n_steps, num_models, epochs
        self.compile = compile
        self.models, self.augment, self.baseline, self.at_end = models, augment, baseline, at_end

    def _evaluate(
        self, trainer: L.Trainer, pl_module: L.LightningModule, syn=None, progress: bool = False
    ) -> dict:
        syn = syn if syn is not None else pl_module.synthetic_set()
        models = expand_models(self.models, pl_module.hparams.backbone)
        return run_protocol(
            syn,
            trainer.datamodule.test,
            models,
            self.num_models,
            self.epochs,
            augment=self.augment,
            method=pl_module.method,  # the baseline is trained like the set itself
            seed=pl_module.seed,
            device=pl_module.device,
            progress=progress,
            compile=self.compile,
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Periodic evaluation, logged as ``eval/<arch>``."""
        step = trainer.global_step
        if not self.every_n_steps or step % self.every_n_steps or not trainer.is_global_zero:
            return
        for arch, s in summaries(self._evaluate(trainer, pl_module)).items():
            pl_module.log(f"eval/{arch}", s["mean"], prog_bar=True, rank_zero_only=True)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Final table: the condensed set beside the baseline, mean and std over models."""
        if not self.at_end or not trainer.is_global_zero or trainer.interrupted:
            return
        results = self._evaluate(trainer, pl_module, progress=True)
        base, name = None, self.baseline
        if name:
            from dcl.baselines import select_baseline

            chosen = select_baseline(
                name,
                trainer.datamodule.train,
                pl_module.ipc,
                seed=pl_module.seed,
                device=pl_module.device,
            )
            base = self._evaluate(trainer, pl_module, chosen, progress=True)
        out = Path(pl_module.output_dir)
        doc = evaluation_document(results, base, name, self._settings(pl_module))
        write_json(doc, out / "evaluation.json")
        plan = self._settings(pl_module)["recipes"]
        how = ", ".join(f"{a}: {r['augment']}, E={r['epochs']}" for a, r in plan.items())
        print(
            f"\n{pl_module.method.upper()} {pl_module.info.name}, {pl_module.ipc} image(s) "
            f"per class, {trainer.global_step} steps; {self.num_models} models each ({how}):"
        )
        print(format_table(results, base, name or "baseline", pl_module.method))
        print(f"Synthetic set: {out / 'synthetic.pt'}\nImage grid:    {out / 'synthetic.png'}")
        print(
            f"Evaluation:    {out / 'evaluation.json'}\nTensorBoard:   tensorboard --logdir "
            f"{out.parent}"
        )

    def _settings(self, pl_module: L.LightningModule) -> dict:
        return {
            "method": pl_module.method,
            "dataset": pl_module.info.name,
            "ipc": pl_module.ipc,
            "backbone": pl_module.hparams.backbone,
            "num_models": self.num_models,
            "epochs": self.epochs,
            "models": self.models,
            "augment": self.augment,
            "recipes": self._recipes(pl_module),
            "seed": pl_module.seed,
            "step": pl_module.global_step,
        }

    def _recipes(self, pl_module: L.LightningModule) -> dict[str, dict]:
        models = expand_models(self.models, pl_module.hparams.backbone)
        plan = recipes(pl_module.synthetic_set(), models, self.augment, self.epochs)
        return {name: dataclasses.asdict(r) for name, r in plan.items()}
