"""SynthesisEvaluation: checked at construction, runs before teardown, reports to TensorBoard."""

from __future__ import annotations

import csv
import json

import lightning as L
import pytest

import dcl.evaluation.callback as callback_module
from dcl.evaluation import SynthesisEvaluation
from tests.synthesis.helpers import synthesize


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": "ConvNet,ConvNot"}, "Unknown network"),
        ({"augment": "flip"}, "augment 'flip'"),
        ({"baseline": "herd"}, "baseline 'herd'"),
        ({"num_models": 0}, "num_models >= 1"),
    ],
)
def test_bad_arguments_fail_at_construction_not_after_synthesis(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthesisEvaluation(**kwargs)


class Events(L.Callback):
    """Records the order of the final evaluation and the strategy's teardown."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def setup(self, trainer, pl_module, stage) -> None:
        teardown = trainer.strategy.teardown

        def recorded():
            self.seen.append(("teardown", str(pl_module.device)))
            teardown()

        trainer.strategy.teardown = recorded


def test_final_evaluation_runs_before_teardown_on_the_root_device(
    tmp_path, digits_cache, monkeypatch
):
    seen: list = []
    real_protocol = callback_module.run_protocol

    def spy(*args, **kwargs):
        seen.append(("evaluate", str(kwargs["device"])))
        return real_protocol(*args, **kwargs)

    monkeypatch.setattr(callback_module, "run_protocol", spy)
    evaluation = SynthesisEvaluation(num_models=1, epochs=1, baseline=None)
    model, trainer = synthesize(tmp_path, digits_cache, 2, callbacks=[evaluation, Events(seen)])
    assert [event for event, _ in seen] == ["evaluate", "teardown"]
    assert seen[0][1] == str(trainer.strategy.root_device)
    assert json.loads((tmp_path / "evaluation.json").read_text())["results"]["ConvNet"]


def test_final_accuracies_reach_the_logger_for_the_hparams_tab(tmp_path, digits_cache):
    from lightning.pytorch.loggers import CSVLogger

    evaluation = SynthesisEvaluation(num_models=2, epochs=1, baseline=None)
    L.seed_everything(0, verbose=False)
    from dcl.data.module import RealDataModule
    from dcl.synthesis.module import SynthesisModule

    data = RealDataModule("digits", cache_dir=str(digits_cache))
    model = SynthesisModule(data.info, ipc=1, batch_real=8, image_log_every_n_steps=0)
    logger = CSVLogger(tmp_path)
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=logger,
        callbacks=[evaluation],
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(model, data)
    with open(logger.experiment.metrics_file_path) as f:
        rows = list(csv.DictReader(f))
    final = [r for r in rows if r.get("final/ConvNet")]
    assert len(final) == 1 and final[0]["hp_metric"] == final[0]["final/ConvNet"]
    saved = json.loads((model.output_dir / "evaluation.json").read_text())
    assert float(final[0]["final/ConvNet"]) == pytest.approx(saved["results"]["ConvNet"]["mean"])
