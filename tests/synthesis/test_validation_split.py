"""Synthesis never sees the validation images, and its set records the split."""

from __future__ import annotations

import lightning as L

from dcl.data import SyntheticSet
from dcl.synthesis.module import SynthesisModule
from tests.data.indexed import PER_CLASS, indexed_module, indices, uint8_indices


class InitialImages(L.Callback):
    """Keeps the images synthesis starts from."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.images = pl_module.images.detach().clone()


def test_initial_images_and_real_batches_exclude_the_validation_split(tmp_path) -> None:
    L.seed_everything(0, verbose=False)
    data = indexed_module(val_size=6, seed=2)
    held_out = uint8_indices(data.val.images)
    drawn: list = []
    real_batch = data.real_batch

    def spy(*args, **kwargs):
        drawn.append(out := real_batch(*args, **kwargs))
        return out

    data.real_batch = spy
    model = SynthesisModule(
        data.info, method="dm", ipc=PER_CLASS - 6, init="real", batch_real=PER_CLASS - 6,
        image_log_every_n_steps=0, autotune=False,
    )  # fmt: skip
    start = InitialImages()
    trainer = L.Trainer(
        max_steps=2, accelerator="cpu", logger=False, callbacks=[start],
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, data)
    assert len(drawn) == 2
    # Every training image of every class is drawn, and none held out.
    assert not indices(start.images, data.info) & held_out
    for batch in drawn:
        assert not indices(batch, data.info) & held_out
    saved = SyntheticSet.load(model.output_dir / "synthetic.pt")
    assert saved.config["validation"] == data.validation
