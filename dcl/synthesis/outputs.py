"""What a synthesis run hands out: the set with its metadata, its picture, TensorBoard images."""

from __future__ import annotations

from pathlib import Path

import torch

from dcl.data.synthetic import SyntheticSet, image_grid
from dcl.data.zca import ZCA


class SyntheticOutputs:
    """Mixin of ``SynthesisModule``: the current images as a ``SyntheticSet``, saved and logged.

    Expects ``images``, ``labels``, ``info``, ``ipc``, ``method``, ``seed``, ``step``,
    ``hparams``, ``dsa``, ``matching`` and ``_output_dir`` on the LightningModule it is mixed
    into. A set records the data module's ZCA fit (``whitening``, when it whitens) and the
    matching method's learned evaluation learning rate (its ``learned_lr()``, when it has one), its
    soft labels (``soft_labels()``, when it makes them), its evaluation hints (how networks
    train on its sets) and, in ``config["validation"]``, the data module's validation split
    (held out from synthesis).
    """

    def whitening(self) -> ZCA | None:
        """The ZCA fit of the trainer's data module, if it whitens (``None`` otherwise)."""
        trainer = self._trainer  # None outside a Trainer: ``self.trainer`` would raise
        return getattr(getattr(trainer, "datamodule", None), "whitening", None)

    def validation_split(self) -> dict | None:
        """The data module's validation split record (``None``: no split, or no Trainer)."""
        trainer = self._trainer
        return getattr(getattr(trainer, "datamodule", None), "validation", None)

    def learned_lr(self) -> float | None:
        """The matching method's current learned evaluation learning rate, if it learns one."""
        learned = getattr(getattr(self, "matching", None), "learned_lr", None)
        lr = learned() if callable(learned) else None
        return None if lr is None else float(lr)

    def soft_labels(self) -> torch.Tensor | None:
        """The matching method's soft-label logits of the set (MTT: TESLA's), or ``None``."""
        method = getattr(self, "matching", None)
        soft = method.soft_labels() if hasattr(method, "soft_labels") else None
        return None if soft is None else soft.detach().float().cpu().clone()

    def synthetic_set(self) -> SyntheticSet:
        """The current images as a ``SyntheticSet`` with full metadata."""
        config = {k: v for k, v in self.hparams.items() if k != "data_info"}
        config = {
            k: v if isinstance(v, int | float | str | bool | None) else str(v)
            for k, v in config.items()
        }
        # What ran, not "auto": evaluation augments with the strategy synthesis used.
        config["dsa_strategy"] = "_".join(self.dsa.ops) if self.dsa is not None else "none"
        # The real images synthesis never saw (``None``: none held out); ``dcl.data.validation``.
        config["validation"] = self.validation_split()
        return SyntheticSet(
            images=self.images.detach().float().cpu().clone(),
            labels=self.labels.cpu(),
            info=self.info,
            ipc=self.ipc,
            method=self.method,
            seed=self.seed,
            step=self.step,
            backbone=self.hparams.backbone,
            config=config,
            lr=self.learned_lr(),
            evaluation=self.matching.evaluation.to_dict(),
            whitening=None if (fit := self.whitening()) is None else fit.to("cpu"),
            soft_labels=self.soft_labels(),
        )

    def log_images(self) -> None:
        """Add the de-normalised image grid to TensorBoard (rank 0)."""
        logger = self.logger
        if (
            self.trainer.is_global_zero
            and logger is not None
            and hasattr(logger.experiment, "add_image")
        ):
            # Capped: reads a few images only, never the whole set.
            grid = image_grid(self.images, self.info, self.ipc, zca=self.whitening())
            logger.experiment.add_image("synthetic", grid, self.global_step)

    @property
    def output_dir(self) -> Path:
        """Where ``synthetic.pt`` and ``synthetic.png`` are written (the run's log directory)."""
        if self._output_dir is None:  # trainer.log_dir broadcasts: resolve it on every rank
            self._output_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)
        return self._output_dir

    def save_outputs(self) -> Path:
        """Write ``synthetic.pt`` and ``synthetic.png`` atomically; returns the set's path."""
        out = self.output_dir
        syn = self.synthetic_set()
        if not torch.isfinite(syn.images).all():
            raise FloatingPointError("Refusing to save non-finite synthetic images.")
        path = syn.save(out / "synthetic.pt")
        syn.save_png(out / "synthetic.png")
        return path
