"""End to end: synthesis and evaluation on a ``from_tensors`` module, with no registered dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import torch

import dcl
from dcl.data import RealDataModule, SyntheticSet


class RecordStart(L.Callback):
    """Keeps a copy of the synthetic images as training starts (after their initialisation)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.images = pl_module.images.detach().clone()


def three_classes() -> RealDataModule:
    """3 classes of 8x8 gray images, each class brighter than the one before."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(6)
    images = (torch.rand(18, 1, 8, 8, generator=g) + labels.view(-1, 1, 1, 1)) / 3
    test_labels = torch.arange(3).repeat_interleave(2)
    test = (torch.rand(6, 1, 8, 8, generator=g) + test_labels.view(-1, 1, 1, 1)) / 3
    return RealDataModule.from_tensors(images, labels, test=(test, test_labels), name="ramps")


def test_dm_synthesis_and_evaluation_on_tensors(tmp_path: Path) -> None:
    L.seed_everything(0, verbose=False)
    dm = three_classes()
    model = dcl.SynthesisModule(
        data_info=dm.info, method="dm", ipc=1, batch_real=4, image_log_every_n_steps=0
    )
    start = RecordStart()
    evaluation = dcl.SynthesisEvaluation(num_models=1, epochs=1, baseline="random")
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[start, evaluation],
    )
    trainer.fit(model, dm)
    assert trainer.global_step == 2
    assert model.images.shape == (3, 1, 8, 8) and torch.isfinite(model.images).all()
    assert not torch.allclose(model.images.detach(), start.images)  # the images were updated
    syn = SyntheticSet.load(tmp_path / "synthetic.pt")
    assert syn.info.name == "ramps" and syn.info == dm.info
    # The evaluation callback ran on the module's own test split (no reload by name) ...
    document = json.loads((tmp_path / "evaluation.json").read_text())
    assert document["settings"]["dataset"] == "ramps"
    # ... and so does the Python protocol, which is how to evaluate such a set later.
    accuracies = dcl.run_protocol(syn, dm.test, ["ConvNet"], num_models=1, epochs=1, progress=False)
    assert len(accuracies["ConvNet"]) == 1 and 0 <= accuracies["ConvNet"][0] <= 100
    assert not math.isnan(accuracies["ConvNet"][0])
