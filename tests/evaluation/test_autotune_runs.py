"""Evaluation paths in evaluate.py and the synthesis callback: printed, recorded, one per run."""

import json
from pathlib import Path

import pytest

from dcl import tuning
from dcl.baselines import select_baseline
from dcl.evaluation import SynthesisEvaluation
from dcl.evaluation.cli import main
from tests.evaluation.autotune_helpers import fake_clock
from tests.synthesis.helpers import synthesize

FAVOUR_CHANNELS_LAST = {"eager": 10.0, "channels_last": 5.0, "ensemble": 15.0}
CHOSEN = {
    "compile": False,
    "channels_last": True,
    "ensemble": False,
    "how": "probed",
    "timings_ms": {"eager": 20.0, "channels_last": 10.0, "ensemble": 15.0},
}
LINE = (
    "Evaluation (ConvNet) path: compile=False, channels_last=True, ensemble=False "
    "(probed: eager 20 ms, channels_last 10 ms, ensemble 15 ms)"
)


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def saved_set(digits, tmp_path_factory) -> Path:
    return select_baseline("random", digits[0], 1, seed=3).save(
        tmp_path_factory.mktemp("sets") / "synthetic.pt"
    )


def arguments(saved_set: Path, digits_cache: Path) -> list[str]:
    return ["--synthetic", str(saved_set), "--models", "ConvNet", "--num_models", "2",
            "--epochs", "2", "--device", "cpu", "--cache_dir", str(digits_cache)]  # fmt: skip


def test_evaluate_py_prints_and_records_the_path_once_for_set_and_baseline(
    saved_set, digits_cache, monkeypatch, capsys
):
    calls: list[str] = []
    monkeypatch.setattr(tuning, "time_call", fake_clock(FAVOUR_CHANNELS_LAST, calls))
    doc = main([*arguments(saved_set, digits_cache), "--baseline", "random"])
    assert calls == ["eager", "channels_last", "ensemble"]  # the baseline reuses the decision
    assert LINE in capsys.readouterr().out.splitlines()
    settings = doc["settings"]
    assert settings["paths"] == {"ConvNet": CHOSEN}
    assert (settings["autotune"], settings["compile"], settings["channels_last"]) == (
        True,
        None,
        None,
    )


def test_evaluate_py_switches(saved_set, digits_cache, monkeypatch, capsys):
    monkeypatch.setattr(tuning, "time_call", fake_clock(FAVOUR_CHANNELS_LAST))
    args = arguments(saved_set, digits_cache)
    off = main([*args, "--autotune", "false"])["settings"]["paths"]["ConvNet"]
    assert off == {"compile": False, "channels_last": False, "ensemble": False,
                   "how": "autotune off", "timings_ms": {}}  # fmt: skip
    by_hand = ["--compile", "false", "--channels_last", "true", "--ensemble", "false"]
    hand = main([*args, *by_hand])["settings"]["paths"]["ConvNet"]
    assert hand["how"] == "set by hand" and hand["channels_last"]
    out = capsys.readouterr().out
    assert "(autotune off)" in out and "(set by hand)" in out


def test_the_callback_prints_and_records_the_path(tmp_path, digits_cache, monkeypatch, capsys):
    calls: list[str] = []
    monkeypatch.setattr(tuning, "time_call", fake_clock(FAVOUR_CHANNELS_LAST, calls))
    evaluation = SynthesisEvaluation(num_models=2, epochs=2, baseline="random")
    synthesize(tmp_path, digits_cache, 1, callbacks=[evaluation])
    assert calls == ["eager", "channels_last", "ensemble"]  # the baseline reuses the decision
    assert LINE in capsys.readouterr().out.splitlines()
    settings = json.loads((tmp_path / "evaluation.json").read_text())["settings"]
    assert settings["paths"] == {"ConvNet": CHOSEN}
    assert settings["autotune"] is True and settings["ensemble"] is None


def test_the_callback_switch_turns_the_probe_off(tmp_path, digits_cache, monkeypatch):
    monkeypatch.setattr(tuning, "time_call", fake_clock(FAVOUR_CHANNELS_LAST))
    evaluation = SynthesisEvaluation(num_models=2, epochs=2, baseline=None, autotune=False)
    synthesize(tmp_path, digits_cache, 1, callbacks=[evaluation])
    settings = json.loads((tmp_path / "evaluation.json").read_text())["settings"]
    assert settings["paths"]["ConvNet"]["how"] == "autotune off"
    assert not settings["paths"]["ConvNet"]["channels_last"]


@pytest.mark.slow
def test_two_processes_apply_rank_zeros_choice_even_where_their_clocks_disagree(
    saved_set, digits_cache, tmp_path, monkeypatch
):
    """Forked ranks inherit the fake clock: rank 1's favours the ensemble, rank 0's NHWC."""
    import torch.distributed as dist

    import dcl.evaluation.ensemble as ensemble_module
    import dcl.evaluation.protocol as protocol_module

    def ms(variant: str) -> float:
        rank = dist.get_rank() if dist.is_initialized() else 0
        favour = "channels_last" if rank == 0 else "ensemble"
        return 1.0 if variant == favour else 10.0

    record = tmp_path / "applied"
    record.mkdir()
    forwards, train_ensemble = protocol_module.evaluation_forwards, ensemble_module.train_ensemble

    def spy_forwards(compile, channels_last=False):
        path = record / f"rank{dist.get_rank()}-forward-{compile}-{channels_last}"
        path.touch()
        return forwards(compile, channels_last)

    def spy_ensemble(modules, images, labels, epoch_done=None):
        (record / f"rank{dist.get_rank()}-ensemble").touch()
        return train_ensemble(modules, images, labels, epoch_done)

    monkeypatch.setattr(tuning, "time_call", fake_clock(ms))
    monkeypatch.setattr(protocol_module, "evaluation_forwards", spy_forwards)
    monkeypatch.setattr(ensemble_module, "train_ensemble", spy_ensemble)
    args = arguments(saved_set, digits_cache)
    args[args.index("--num_models") + 1] = "4"  # two per rank: the ensemble would apply
    doc = main([*args, "--devices", "2", "--strategy", "ddp_fork"])
    assert doc["settings"]["world_size"] == 2
    assert doc["settings"]["paths"]["ConvNet"]["channels_last"]
    assert sorted(p.name for p in record.iterdir()) == [
        "rank0-forward-False-True",
        "rank1-forward-False-True",
    ]
