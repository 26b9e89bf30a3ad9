"""Autotune: the fastest equivalent path is chosen, cached, reported, and leaves no trace.

Timings are fake (``FakeTimer`` replaces ``dcl.tuning.time_call``): each test decides which
variant is fastest, so no verdict depends on this machine's speed.
"""

import json
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from dcl import tuning
from dcl.data.module import RealDataModule
from dcl.data.synthetic import SyntheticSet
from dcl.synthesis import autotune
from dcl.synthesis.autotune import search
from dcl.synthesis.module import SynthesisModule
from tests.synthesis.helpers import FakeTimer, synthesize

DM_PLAIN = {"class_chunk": 1, "channels_last": False}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """A cache of this test's own, probes on runs of any length, no compiler and no bfloat16
    units by default (whatever this machine has)."""
    monkeypatch.setenv("DCL_AUTOTUNE_CACHE", str(tmp_path / "dcl-cache" / "autotune.json"))
    monkeypatch.setattr(autotune, "MIN_PROBE_STEPS", 0)
    monkeypatch.setattr(tuning, "compiler_available", lambda device: False)
    monkeypatch.setattr(tuning, "has_bf16_units", lambda device: False)


def fake(monkeypatch, favour: dict, **kwargs) -> FakeTimer:
    timer = FakeTimer(favour, **kwargs)
    monkeypatch.setattr(tuning, "time_call", timer)
    return timer


def test_greedy_search_tries_one_option_at_a_time_and_keeps_the_default_on_near_ties():
    seen = []

    def measure(options):
        seen.append(dict(options))
        return 1.0 - 0.5 * (options["a"] == 1) - 0.01 * options["b"]  # b: a 2% gain, noise

    choice, timings = search({"a": [0, 1, 2], "b": [False, True]}, measure)
    assert choice == {"a": 1, "b": False}
    assert seen == [
        {"a": 0, "b": False},
        {"a": 1, "b": False},
        {"a": 2, "b": False},
        {"a": 1, "b": True},
    ]
    assert timings == pytest.approx({"plain": 1000, "a=1": 500, "a=2": 1000, "a=1+b=True": 490})


def test_the_real_timer_probes_the_runs_own_step(tmp_path, digits_cache, capsys):
    model, _ = synthesize(tmp_path, digits_cache, 1)
    record = model.speed_path
    assert record["how"] == "probed" and set(record["choice"]) == {*DM_PLAIN, "compile"}
    assert list(record["timings_ms"])[:2] == ["plain", "class_chunk=0"]
    assert all(ms > 0 for ms in record["timings_ms"].values())
    assert "(probed: plain " in capsys.readouterr().out


def test_the_fastest_variant_is_chosen_applied_and_reported(
    tmp_path, digits_cache, monkeypatch, capsys
):
    timer = fake(monkeypatch, {"class_chunk": 0, "channels_last": True})
    model, _ = synthesize(tmp_path, digits_cache, 1)
    fastest = {"class_chunk": 0, "channels_last": True}
    assert timer.seen == [DM_PLAIN, {**DM_PLAIN, "class_chunk": 0}, fastest]
    assert model.matching.class_chunk == 0 and model.hparams.class_chunk == 0
    assert model.hparams.channels_last is True and model.hparams.compile is False
    assert (
        "Synthesis path: class_chunk=0, bf16=False, channels_last=True, compile=False (probed: "
        "plain 1000 ms, "
        "class_chunk=0 500 ms, class_chunk=0+channels_last=True 250 ms)"
    ) in capsys.readouterr().out
    # The set records what ran.
    assert SyntheticSet.load(tmp_path / "synthetic.pt").config["class_chunk"] == 0


def test_dc_chooses_between_batched_and_per_class_gradients(tmp_path, digits_cache, monkeypatch):
    timer = fake(monkeypatch, {"batched": True}, run=False)
    model, _ = synthesize(tmp_path, digits_cache, 1, method="dc", outer_loop=2, inner_loop=1)
    assert timer.seen[:2] == [
        {"batched": False, "channels_last": False},
        {"batched": True, "channels_last": False},
    ]
    assert model.matching.batched is True and model.hparams.channels_last is False


def test_dm_with_batch_norm_has_no_class_chunk_to_choose(tmp_path, digits_cache, monkeypatch):
    timer = fake(monkeypatch, {"class_chunk": 1}, run=False)
    model, _ = synthesize(tmp_path, digits_cache, 1, backbone="ConvNetBN")
    assert timer.seen == [{"channels_last": False}, {"channels_last": True}]
    assert model.matching.class_chunk is None  # batch norm matches all classes at once anyway


def test_values_set_by_hand_are_never_overridden(tmp_path, digits_cache, monkeypatch, capsys):
    timer = fake(monkeypatch, {"class_chunk": 1, "channels_last": True}, run=False)
    model, _ = synthesize(tmp_path / "one", digits_cache, 1, class_chunk=0)
    assert timer.seen == [{"channels_last": False}, {"channels_last": True}]
    assert model.matching.class_chunk == 0 and model.hparams.channels_last is True
    timer.seen.clear()
    everything = {"class_chunk": 0, "channels_last": False, "bf16": False, "compile": False}
    model, _ = synthesize(tmp_path / "all", digits_cache, 1, **everything)
    assert timer.seen == []
    assert model.matching.class_chunk == 0 and model.hparams.channels_last is False
    out = capsys.readouterr().out
    assert "class_chunk=0, bf16=False, channels_last=False, compile=False (set by hand)" in out


def test_autotune_off_runs_todays_defaults(tmp_path, digits_cache, monkeypatch, capsys):
    timer = fake(monkeypatch, {"class_chunk": 0, "channels_last": True})
    off, _ = synthesize(tmp_path / "off", digits_cache, 2, autotune=False)
    assert timer.seen == [] and "Synthesis path" not in capsys.readouterr().out
    assert off.hparams.compile is None and off.hparams.channels_last is None
    assert off.matching.class_chunk is None
    today = {"class_chunk": 1, "channels_last": False, "compile": False}  # CPU's defaults
    by_hand, _ = synthesize(tmp_path / "hand", digits_cache, 2, autotune=False, **today)
    assert torch.equal(off.images, by_hand.images)


def test_a_cached_decision_skips_the_probe_and_another_shape_misses(
    tmp_path, digits_cache, monkeypatch, capsys
):
    timer = fake(monkeypatch, {"channels_last": True}, run=False)
    synthesize(tmp_path / "a", digits_cache, 1)
    assert len(timer.seen) == 3
    again, _ = synthesize(tmp_path / "b", digits_cache, 1)
    assert len(timer.seen) == 3 and again.hparams.channels_last is True
    assert "(cached: plain 1000 ms" in capsys.readouterr().out
    synthesize(tmp_path / "c", digits_cache, 1, batch_real=16)
    assert len(timer.seen) == 6
    cache = json.loads((tmp_path / "dcl-cache" / "autotune.json").read_text())
    assert len(cache["entries"]) == 2


def test_a_corrupt_cache_is_ignored_with_a_warning(tmp_path, digits_cache, monkeypatch):
    path = tmp_path / "dcl-cache" / "autotune.json"
    path.parent.mkdir()
    path.write_text("{not json")
    timer = fake(monkeypatch, {"channels_last": True}, run=False)
    with pytest.warns(UserWarning, match="unreadable autotune cache"):
        model, _ = synthesize(tmp_path, digits_cache, 1)
    assert len(timer.seen) == 3 and model.hparams.channels_last is True
    assert json.loads(path.read_text())["format"] == tuning.CACHE_FORMAT  # rewritten


@pytest.mark.parametrize(
    ("compiler", "step_s", "probed"),
    [(True, 200.0, True), (False, 200.0, False), (True, 1.0, False)],
    ids=["long-run", "no-compiler", "short-run"],
)
def test_compile_is_probed_only_with_a_compiler_and_a_run_long_enough(
    tmp_path, digits_cache, monkeypatch, compiler, step_s, probed
):
    # Two steps of the best eager 0.5 * step_s: 200 s repays a compile, 1 s does not.
    monkeypatch.setattr(tuning, "compiler_available", lambda device: compiler)
    timer = fake(monkeypatch, {"channels_last": True}, run=False, seconds=step_s)
    model, _ = synthesize(tmp_path, digits_cache, 2)
    assert any(options.get("compile") for options in timer.seen) == probed
    assert model.hparams.compile is False  # compile was not favoured


@pytest.mark.parametrize("batched", [None, True])
def test_dc_probes_compile_with_its_per_class_loop_only(
    tmp_path, digits_cache, monkeypatch, batched
):
    monkeypatch.setattr(tuning, "compiler_available", lambda device: True)
    timer = fake(monkeypatch, {"batched": True}, run=False, seconds=200.0)
    kwargs = {"method": "dc", "outer_loop": 2, "inner_loop": 1, "batched": batched}
    synthesize(tmp_path, digits_cache, 2, **kwargs)
    compiled = [options for options in timer.seen if options.get("compile")]
    # vmap-ed gradients bypass the compiled calls: compile is tried with the loop, or not at all.
    expected = [{"batched": False, "channels_last": False, "compile": True}]
    assert compiled == (expected if batched is None else [])


@pytest.mark.parametrize(
    ("method", "favour", "kwargs"),
    [
        ("dm", {"class_chunk": 0, "channels_last": True}, {}),
        ("dc", {"batched": True}, {"backbone": "ConvNetBN", "outer_loop": 2, "inner_loop": 1}),
        ("dsa", {"channels_last": True}, {"outer_loop": 2, "inner_loop": 1}),
    ],
)
def test_the_probe_leaves_no_trace(tmp_path, digits_cache, monkeypatch, method, favour, kwargs):
    # The fake timer runs every candidate's step twice, the ones not chosen too.
    fake(monkeypatch, favour)
    tuned, _ = synthesize(tmp_path / "tuned", digits_cache, 2, method=method, **kwargs)
    rng_tuned = torch.get_rng_state()
    chosen = tuned.speed_path["choice"]
    assert all(chosen[k] == v for k, v in favour.items())
    hand, _ = synthesize(
        tmp_path / "hand", digits_cache, 2, method=method, autotune=False, **chosen, **kwargs
    )
    assert torch.equal(tuned.images, hand.images)
    assert torch.equal(rng_tuned, torch.get_rng_state())  # no global random draw
    if method != "dm":  # DC's network and its batch-norm statistics
        ours, theirs = tuned.matching.inner.net.state_dict(), hand.matching.inner.net.state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_a_resumed_run_reuses_its_recorded_choice_without_probing(
    tmp_path, digits_cache, monkeypatch, capsys
):
    fake(monkeypatch, {"channels_last": True}, run=False)
    _, trainer = synthesize(tmp_path / "part", digits_cache, 2)
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    (tmp_path / "dcl-cache" / "autotune.json").unlink()  # only the checkpoint can tell
    other = fake(monkeypatch, {"class_chunk": 0}, run=False)
    resumed, _ = synthesize(tmp_path / "resumed", digits_cache, 4, ckpt_path=str(ckpt))
    assert other.seen == []
    assert resumed.hparams.channels_last is True and resumed.matching.class_chunk == 1
    assert "(checkpoint, probed: plain 1000 ms" in capsys.readouterr().out
    by_hand = {"class_chunk": 1, "channels_last": True, "compile": False}
    straight, _ = synthesize(tmp_path / "straight", digits_cache, 4, autotune=False, **by_hand)
    torch.testing.assert_close(resumed.images, straight.images)


@pytest.mark.parametrize("logger_class", [CSVLogger, TensorBoardLogger])
def test_the_choice_reaches_the_loggers_hyperparameters(
    tmp_path, digits_cache, monkeypatch, logger_class
):
    fake(monkeypatch, {"class_chunk": 0, "channels_last": True}, run=False)
    L.seed_everything(0, verbose=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    model = SynthesisModule(data.info, batch_real=8, image_log_every_n_steps=0)
    logger = logger_class(tmp_path)
    trainer = L.Trainer(
        max_steps=1,
        accelerator="cpu",
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, data)
    logged = yaml.safe_load((Path(logger.log_dir) / "hparams.yaml").read_text())
    assert logged["class_chunk"] == 0 and logged["channels_last"] is True
    assert logged["compile"] is False and logged["autotune"] is True
    if logger_class is CSVLogger:
        header = (Path(logger.log_dir) / "metrics.csv").read_text().splitlines()[0]
        assert "autotune_ms/plain" in header and "autotune_ms/class_chunk=0" in header


class AutocastSpy:
    """Wraps a method's ``loss`` and ``after_update``: whether each ran under bfloat16 autocast."""

    def __init__(self, model) -> None:
        self.loss, self.after = [], []
        loss, after = model.matching.loss, model.matching.after_update

        def spy_loss(ctx):
            self.loss.append(torch.is_autocast_enabled("cpu"))
            return loss(ctx)

        def spy_after(ctx):
            self.after.append(torch.is_autocast_enabled("cpu"))
            return after(ctx)

        model.matching.loss, model.matching.after_update = spy_loss, spy_after


@pytest.mark.parametrize("method", ["dm", "dsa"])
def test_bf16_autocast_is_offered_where_measured_and_the_hardware_has_units(
    tmp_path, digits_cache, monkeypatch, capsys, method
):
    monkeypatch.setattr(tuning, "has_bf16_units", lambda device: True)
    timer = fake(monkeypatch, {"bf16": True}, run=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    kwargs = {"outer_loop": 2, "inner_loop": 1} if method == "dsa" else {}
    model = SynthesisModule(data.info, method=method, ipc=1, batch_real=4, **kwargs)
    spy = AutocastSpy(model)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, data)
    assert {"bf16": True} in [{k: v for k, v in s.items() if k == "bf16"} for s in timer.seen]
    assert model.hparams.bf16 is True and model.speed_path["choice"]["bf16"] is True
    assert spy.loss == [True, True] and spy.after == [True, True]  # the steps ran under it
    assert "bf16=True" in capsys.readouterr().out  # reported
    assert model.images.dtype == torch.float32  # the images stay float32


@pytest.mark.parametrize(
    ("units", "method", "precision"),
    [(False, "dm", "32-true"), (True, "dc", "32-true"), (True, "dm", "bf16-mixed")],
)
def test_bf16_is_not_offered_without_units_measurement_or_a_float32_run(
    tmp_path, digits_cache, monkeypatch, units, method, precision
):
    monkeypatch.setattr(tuning, "has_bf16_units", lambda device: units)
    timer = fake(monkeypatch, {"bf16": True}, run=False)
    kwargs = {"outer_loop": 2, "inner_loop": 1} if method == "dc" else {}
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    model = SynthesisModule(data.info, method=method, ipc=1, batch_real=4, **kwargs)
    spy = AutocastSpy(model)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, default_root_dir=tmp_path,
                        precision=precision)  # fmt: skip
    trainer.fit(model, data)
    assert all("bf16" not in s for s in timer.seen) and model.hparams.bf16 is False
    assert spy.loss == [precision == "bf16-mixed"] * 2  # only the Trainer's own autocast


def test_bf16_set_by_hand_is_kept(tmp_path, digits_cache, monkeypatch):
    monkeypatch.setattr(tuning, "has_bf16_units", lambda device: True)
    timer = fake(monkeypatch, {"bf16": True}, run=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    model = SynthesisModule(data.info, method="dm", ipc=1, batch_real=4, bf16=False)
    spy = AutocastSpy(model)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, data)
    assert all("bf16" not in s for s in timer.seen) and spy.loss == [False, False]


def test_the_path_is_printed_with_the_progress_bar_on(tmp_path, digits_cache, monkeypatch, capsys):
    """Lightning's progress bar drops ``module.print`` before its bar exists (the quick start)."""
    fake(monkeypatch, {"class_chunk": 0}, run=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    model = SynthesisModule(data.info, method="dm", ipc=1, batch_real=4)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=True, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, data)
    assert "Synthesis path: class_chunk=0" in capsys.readouterr().out


def test_methods_without_network_calls_are_not_probed_for_layout_or_compile(
    tmp_path, digits_cache, monkeypatch
):
    # DataDAM takes its block features from hooks on a plain call: channels_last and compile
    # cannot act there, so only its class chunk is timed, even with a compiler and a long run.
    monkeypatch.setattr(tuning, "compiler_available", lambda device: True)
    timer = fake(monkeypatch, {"class_chunk": 0}, run=False, seconds=1000.0)
    model, _ = synthesize(tmp_path, digits_cache, 2, method="datadam")
    assert timer.seen == [{"class_chunk": 1}, {"class_chunk": 0}]
    assert model.matching.class_chunk == 0
    assert not model.hparams.channels_last and not model.hparams.compile
