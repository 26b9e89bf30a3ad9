"""Evaluation of ZCA-whitened sets and sets with a learned learning rate (MTT)."""

from __future__ import annotations

import dataclasses
import json

import lightning as L
import pytest

import dcl.evaluation.cli as cli
from dcl.baselines import select_baseline
from dcl.data import RealDataModule
from dcl.data.splits import adopt_whitening, whiten_splits
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation import SynthesisEvaluation
from dcl.evaluation.learning_rate import PUBLISHED_LR, resolve_lr
from dcl.evaluation.protocol import EvaluationModule, run_protocol
from dcl.evaluation.recipe import EPOCHS_AUGMENTED, resolve_recipe
from dcl.methods import BUILTIN, DM, MTT, DataDAM
from dcl.synthesis.module import SynthesisModule

FAST = dict(num_models=1, epochs=0, progress=False, autotune=False)
MLP = dict(models=["MLP"], **FAST)


@pytest.fixture(scope="module")
def whitened(digits, digits_cache):
    """Whitened digits splits and a whitened MTT-like set with a learned lr, chosen from them."""
    train, test, fit = whiten_splits(*digits, 0.1, digits_cache)
    chosen = adopt_whitening(select_baseline("random", train, 1, seed=3), train)
    mtt_like = dict(method="mtt", lr=0.05, evaluation=MTT.evaluation.to_dict())
    return train, test, fit, dataclasses.replace(chosen, **mtt_like)


@pytest.fixture
def lrs(monkeypatch) -> list[float]:
    """The learning rate every evaluation network's optimiser is built with."""
    seen: list[float] = []
    build = EvaluationModule.configure_optimizers

    def record(self):
        seen.append(self.hparams.lr)
        return build(self)

    monkeypatch.setattr(EvaluationModule, "configure_optimizers", record)
    return seen


@pytest.mark.parametrize(("method", "epochs"), [("mtt", EPOCHS_AUGMENTED), ("datadam", 1800)])
def test_mtt_and_datadam_sets_train_like_dsa_sets(method, epochs):
    # MTT's evaluate_synset trains 1000 epochs with DSA, main_DataDAM.py 1800.
    assert BUILTIN[method].evaluation.augment == "dsa"
    recipe = resolve_recipe(method, "cifar10", "ConvNet")
    assert (recipe.augment, recipe.epochs) == ("dsa", epochs)
    assert recipe.batch_size == (64 if method == "datadam" else 256)  # batch_train of each release
    assert recipe.dsa_strategy == resolve_recipe("dsa", "cifar10", "ConvNet").dsa_strategy


def test_resolve_lr(whitened):
    syn = whitened[3]
    assert resolve_lr("auto", syn) == resolve_lr(None, syn) == (0.05, "learned")
    assert resolve_lr("auto", dataclasses.replace(syn, lr=None)) == (PUBLISHED_LR, "published")
    assert resolve_lr(0.2, syn) == resolve_lr("0.2", syn) == (0.2, "given")
    for bad in (0, -1.0, "fast", float("nan"), True):
        with pytest.raises(ValueError, match="lr must be"):
            resolve_lr(bad, syn)
    diverged = dataclasses.replace(syn, lr=-0.003)  # saved, but not trained with
    with pytest.raises(ValueError, match="not positive.*--lr 0.01"):
        resolve_lr("auto", diverged)
    assert resolve_lr(0.01, diverged) == (0.01, "given")


def test_protocol_trains_with_the_learned_lr_unless_given(whitened, lrs):
    _, test, _, syn = whitened
    run_protocol(syn, test, ["MLP"], **FAST)
    run_protocol(syn, test, ["MLP"], lr=0.002, **FAST)
    run_protocol(dataclasses.replace(syn, lr=None), test, ["MLP"], **FAST)
    assert lrs == [0.05, 0.002, PUBLISHED_LR]


def test_a_datadam_set_trains_with_its_releases_batch(whitened, monkeypatch):
    _, test, _, syn = whitened
    seen: list[int] = []
    fit = EvaluationModule.fit_tensors

    def record(self, *args, **kwargs):
        seen.append(self.hparams.batch_size)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(EvaluationModule, "fit_tensors", record)
    run_protocol(dataclasses.replace(syn, evaluation=DataDAM.evaluation.to_dict()), test, **MLP)
    run_protocol(dataclasses.replace(syn, evaluation=DM.evaluation.to_dict()), test, **MLP)
    # A set saved before sets carried hints: its method's, looked up by name.
    run_protocol(dataclasses.replace(syn, method="datadam", evaluation=None), test, **MLP)
    assert seen == [64, 256, 64]


def test_a_whitened_set_needs_test_images_whitened_alike(whitened, digits):
    train, test, fit, syn = whitened
    accuracy = run_protocol(syn, test, ["MLP"], **FAST)["MLP"][0]
    assert 0 <= accuracy <= 100
    with pytest.raises(ValueError, match="test images are plain"):
        run_protocol(syn, digits[1], ["MLP"], **FAST)
    plain = select_baseline("random", digits[0], 1, seed=3)
    with pytest.raises(ValueError, match="not ZCA-whitened"):
        run_protocol(plain, test, ["MLP"], **FAST)
    other = dataclasses.replace(syn, whitening=None, zca={**syn.zca, "checksum": 1})
    with pytest.raises(ValueError, match="other than the test images"):
        run_protocol(other, test, ["MLP"], **FAST)


def cli_args(path, digits_cache, *extra: str) -> list[str]:
    return ["--synthetic", str(path), "--models", "MLP", "--num_models", "1", "--epochs", "1",
            "--device", "cpu", "--cache_dir", str(digits_cache), "--autotune", "false",
            *extra]  # fmt: skip


def test_evaluate_py_whitens_the_test_set_and_records_the_lr(whitened, digits_cache, tmp_path):
    path = whitened[3].save(tmp_path / "mtt.pt")
    doc = cli.main(cli_args(path, digits_cache, "--baseline", "random"))
    settings = doc["settings"]
    assert (settings["lr"], settings["lr_source"]) == (0.05, "learned")
    assert (settings["baseline_lr"], settings["baseline_lr_source"]) == (0.01, "published")
    assert settings["protocol"] == "release-evaluate_synset"
    assert settings["recipes"]["MLP"]["augment"] == "dsa"
    doc = cli.main(cli_args(path, digits_cache, "--lr", "0.02"))
    assert (doc["settings"]["lr"], doc["settings"]["lr_source"]) == (0.02, "given")


def test_evaluate_py_passes_lr_to_set_and_baseline(whitened, digits_cache, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "run_protocol", lambda s, *a, **k: seen.append(k) or {"MLP": [1.0]})
    path = dataclasses.replace(whitened[3], lr=None).save(tmp_path / "set.pt")
    doc = cli.main(cli_args(path, digits_cache, "--baseline", "random"))
    assert [k["lr"] for k in seen] == ["auto", "auto"]
    assert (doc["settings"]["lr"], doc["settings"]["lr_source"]) == (0.01, "published")
    with pytest.raises(SystemExit):
        cli.main(cli_args(path, digits_cache, "--lr", "-1"))


def test_evaluate_py_refuses_a_set_of_other_data(whitened, digits_cache, tmp_path, capsys):
    syn = whitened[3]
    other = dataclasses.replace(syn, whitening=None, zca={**syn.zca, "checksum": 1})
    with pytest.raises(SystemExit):
        cli.main(cli_args(other.save(tmp_path / "other.pt"), digits_cache))
    assert "checksum 00000001" in capsys.readouterr().err


def test_callback_rejects_a_bad_lr():
    with pytest.raises(ValueError, match="lr must be"):
        SynthesisEvaluation(lr=-0.1)


def test_synthesis_on_whitened_data_evaluates_whitened(digits_cache, tmp_path):
    L.seed_everything(0, verbose=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache), zca=True)
    settings = {"method": "dm", "ipc": 1, "batch_real": 8, "image_log_every_n_steps": 0}
    model = SynthesisModule(data.info, **settings)
    model.matching.learned_lr = lambda: 0.03  # as a method that learns one (MTT) reports it
    evaluation = SynthesisEvaluation(num_models=1, epochs=0, models="MLP", autotune=False)
    trainer = L.Trainer(
        max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        callbacks=[evaluation],
    )  # fmt: skip
    trainer.fit(model, data)
    back = SyntheticSet.load(tmp_path / "synthetic.pt")
    assert back.zca == data.whitening.metadata() and back.lr == 0.03
    settings = json.loads((tmp_path / "evaluation.json").read_text())["settings"]
    assert (settings["lr"], settings["lr_source"]) == (0.03, "learned")
    assert (settings["baseline_lr"], settings["baseline_lr_source"]) == (0.01, "published")
