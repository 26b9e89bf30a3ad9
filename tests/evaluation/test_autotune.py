"""Evaluation paths: the fastest is chosen per architecture, kept if set, cached, leaves no trace.

The probe's clock is fake (``autotune_helpers.fake_clock``): each test decides which path is
fastest, so no verdict depends on this machine's speed. Sequential paths time one network and
count it once per network of the rank; the ensemble's time is all of them at once.
"""

import json

import pytest
import torch

import dcl.evaluation.ensemble as ensemble_module
import dcl.evaluation.protocol as protocol_module
from dcl import tuning
from dcl.baselines import select_baseline
from dcl.evaluation import autotune
from dcl.evaluation.autotune import EvaluationPath, choose_paths
from dcl.evaluation.protocol import run_protocol
from tests.evaluation.autotune_helpers import fake_clock, no_clock

FAVOUR_CHANNELS_LAST = {"eager": 10.0, "channels_last": 5.0, "ensemble": 15.0, "compiled": 50.0}


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def one_per_class(digits):
    return select_baseline("random", digits[0], 1, seed=0)


def clock(monkeypatch, ms) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(tuning, "time_call", fake_clock(ms, calls))
    return calls


def applied(monkeypatch) -> list[tuple]:
    """Records how run_protocol trains each architecture: (compile, channels_last) or ensemble."""
    seen: list[tuple] = []
    forwards, train_ensemble = protocol_module.evaluation_forwards, ensemble_module.train_ensemble

    def spy_forwards(compile, channels_last=False):
        seen.append(("forward", compile, channels_last))
        return forwards(compile, channels_last)

    def spy_ensemble(modules, images, labels, epoch_done=None):
        seen.append(("ensemble", modules[0].hparams.network))
        return train_ensemble(modules, images, labels, epoch_done)

    monkeypatch.setattr(protocol_module, "evaluation_forwards", spy_forwards)
    monkeypatch.setattr(ensemble_module, "train_ensemble", spy_ensemble)
    return seen


def test_the_fastest_path_is_chosen_printed_and_applied_per_architecture(
    one_per_class, digits, monkeypatch, capsys
):
    calls = clock(monkeypatch, FAVOUR_CHANNELS_LAST)
    seen = applied(monkeypatch)
    run_protocol(one_per_class, digits[1], ["ConvNet", "MLP"], 2, 2)
    # ConvNet: channels-last (2 x 5 ms) beats eager (2 x 10 ms), then the ensemble (15 ms) does
    # not beat it. MLP has no convolution, so no channels-last: the ensemble beats eager.
    assert calls == ["eager", "channels_last", "ensemble", "eager", "ensemble"]
    assert seen == [("forward", False, True), ("forward", False, False), ("ensemble", "MLP")]
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Evaluation (")]
    assert lines == [
        "Evaluation (ConvNet) path: compile=False, channels_last=True, ensemble=False "
        "(probed: eager 20 ms, channels_last 10 ms, ensemble 15 ms)",
        "Evaluation (MLP) path: compile=False, channels_last=False, ensemble=True "
        "(probed: eager 20 ms, ensemble 15 ms)",
    ]


def test_near_ties_keep_the_plain_path(one_per_class, monkeypatch):
    clock(monkeypatch, {"eager": 10.0, "channels_last": 9.7})  # 3%: below tuning.MIN_GAIN
    (path,) = choose_paths(one_per_class, ["ConvNet"], 1, 2).values()
    assert path.options() == {"compile": False, "channels_last": False, "ensemble": False}


def test_explicit_values_are_kept_and_not_probed(one_per_class, monkeypatch):
    calls = clock(monkeypatch, FAVOUR_CHANNELS_LAST)
    (path,) = choose_paths(one_per_class, ["ConvNet"], 2, 2, channels_last=False).values()
    assert calls == ["eager", "ensemble"]  # channels-last, though fastest, was set by hand
    assert not path.channels_last and path.how == "probed"
    calls.clear()
    (path,) = choose_paths(
        one_per_class, ["ConvNet"], 2, 2, compile=False, channels_last=True, ensemble=False
    ).values()
    assert calls == [] and path.how == "set by hand" and path.channels_last
    # A sequential option set by hand rules the ensemble out.
    (path,) = choose_paths(one_per_class, ["ConvNet"], 2, 2, channels_last=True).values()
    assert calls == ["channels_last"] and not path.ensemble


def test_autotune_off_is_todays_defaults_exactly(one_per_class, digits, monkeypatch):
    monkeypatch.setattr(tuning, "time_call", no_clock)
    args = (one_per_class, digits[1], ["ConvNet"], 2, 3)
    off = run_protocol(*args, augment="dsa", autotune=False, progress=False)
    plain = run_protocol(*args, augment="dsa", compile=False, ensemble=False, channels_last=False)
    assert off == plain
    (cpu,) = choose_paths(one_per_class, ["ConvNet"], autotune=False).values()
    (gpu,) = choose_paths(one_per_class, ["ConvNet"], device="cuda", autotune=False).values()
    assert cpu == EvaluationPath(how="autotune off")
    assert gpu == EvaluationPath(ensemble=True, how="autotune off")  # the ensemble on CUDA only


def test_short_runs_keep_the_defaults_without_a_probe(one_per_class, monkeypatch):
    monkeypatch.setattr(autotune, "PROBE_WORTH_STEPS", 100)
    monkeypatch.setattr(tuning, "time_call", no_clock)
    (path,) = choose_paths(one_per_class, ["ConvNet"], 2, 48).values()  # 2 x 49 steps
    how = "defaults: a run of 98 steps is too short to repay a probe"
    assert path == EvaluationPath(how=how)
    clock(monkeypatch, FAVOUR_CHANNELS_LAST)
    (path,) = choose_paths(one_per_class, ["ConvNet"], 2, 49).values()  # 2 x 50 steps
    assert path.how == "probed" and path.channels_last


def test_a_cache_hit_skips_the_probe_and_another_shape_misses(
    one_per_class, digits, tmp_path, monkeypatch, capsys
):
    calls = clock(monkeypatch, FAVOUR_CHANNELS_LAST)
    (first,) = choose_paths(one_per_class, ["ConvNet"], 1, 2).values()
    assert calls and first.how == "probed"
    calls.clear()
    (again,) = choose_paths(one_per_class, ["ConvNet"], 1, 2).values()
    assert calls == [] and again.how == "cached"
    assert (again.options(), again.timings_ms) == (first.options(), first.timings_ms)
    assert "(cached: eager 10 ms, channels_last 5 ms)" in capsys.readouterr().out
    entries = json.loads(tuning.cache_file().read_text())["entries"]
    assert len(entries) == 1 and '"network": "ConvNet"' in next(iter(entries))
    # Another set size, epochs, number of models or precision is another setting.
    two_per_class = select_baseline("random", digits[0], 2, seed=0)
    for args in ((two_per_class, ["ConvNet"], 1, 2), (one_per_class, ["ConvNet"], 1, 3)):
        calls.clear()
        assert choose_paths(*args)["ConvNet"].how == "probed" and calls
    calls.clear()
    assert choose_paths(one_per_class, ["ConvNet"], 2, 2)["ConvNet"].how == "probed"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert choose_paths(one_per_class, ["ConvNet"], 1, 2)["ConvNet"].how == "probed"


def test_compile_is_probed_only_with_a_compiler_on_a_long_run(one_per_class, tmp_path, monkeypatch):
    def decide(compiler: bool, eager_ms: float) -> tuple[list[str], EvaluationPath]:
        monkeypatch.setenv(
            "DCL_AUTOTUNE_CACHE", str(tmp_path / f"{compiler}-{eager_ms}" / "autotune.json")
        )
        monkeypatch.setattr(tuning, "compiler_available", lambda device: compiler)
        calls = clock(monkeypatch, {"eager": eager_ms, "compiled": 1.0})
        return calls, choose_paths(one_per_class, ["MLP"], 1, 2)["MLP"]

    long_ms = 1000 * tuning.COMPILE_WORTH_S / 3  # 3 steps (epochs 0..2) at this pace: worth it
    calls, path = decide(compiler=True, eager_ms=long_ms)
    assert calls == ["eager", "compiled"] and path.compile
    calls, path = decide(compiler=True, eager_ms=long_ms / 2)  # a one-minute run
    assert calls == ["eager"] and not path.compile
    calls, path = decide(compiler=False, eager_ms=long_ms)
    assert calls == ["eager"] and not path.compile


@pytest.mark.parametrize(
    ("favour", "by_hand"),
    [
        ({"eager": 10.0, "channels_last": 5.0, "ensemble": 50.0}, {"channels_last": True}),
        ({"eager": 10.0, "channels_last": 10.0, "ensemble": 5.0}, {"ensemble": True}),
    ],
)
def test_the_probe_leaves_no_trace(one_per_class, digits, tmp_path, monkeypatch, favour, by_hand):
    """Accuracies depend on the seeds and the path only: as if the path had been set by hand."""
    calls = clock(monkeypatch, favour)
    args = (one_per_class, digits[1], ["ConvNet"], 2, 3)
    before = torch.random.get_rng_state()
    paths = choose_paths(one_per_class, ["ConvNet"], 2, 3, augment="dsa", progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is untouched
    chosen = {"compile": False, "channels_last": False, "ensemble": False, **by_hand}
    assert paths["ConvNet"].options() == chosen  # the probe really chose the variant
    monkeypatch.setenv(
        "DCL_AUTOTUNE_CACHE", str(tmp_path / "second" / "autotune.json")
    )  # probe again, in the run
    calls.clear()
    tuned = run_protocol(*args, augment="dsa", progress=False)
    assert calls and torch.equal(torch.random.get_rng_state(), before)
    hand = run_protocol(*args, augment="dsa", progress=False, **chosen)
    assert tuned == hand


def test_a_variant_that_fails_its_probe_is_not_taken(one_per_class, monkeypatch):
    def ms(variant: str) -> float:
        if variant == "channels_last":
            raise RuntimeError("no NHWC kernels here")
        return 10.0

    monkeypatch.setattr(tuning, "time_call", fake_clock(ms))
    with pytest.warns(UserWarning, match="channels_last failed its probe: no NHWC kernels"):
        (path,) = choose_paths(one_per_class, ["ConvNet"], 1, 2).values()
    assert not path.channels_last and path.timings_ms == {"eager": 10.0}


def test_no_ensemble_for_batch_norm_networks_class_paths_or_one_model(one_per_class, monkeypatch):
    calls = clock(monkeypatch, {"eager": 10.0, "channels_last": 10.0, "ensemble": 1.0})
    users = "tests.networks.test_user_networks.TinyNet"
    for name, count in (("ConvNetBN", 2), (users, 2), ("MLP", 1)):
        calls.clear()
        paths = choose_paths(one_per_class, [name], count, 2)
        assert calls and "ensemble" not in calls and not paths[name].ensemble


def test_rank_zero_decides_and_every_rank_applies_its_choice(one_per_class, monkeypatch):
    """Rank 1 never probes: it takes rank 0's paths through ``broadcast``."""
    calls = clock(monkeypatch, FAVOUR_CHANNELS_LAST)
    rank0 = choose_paths(one_per_class, ["ConvNet"], 3, 2, shard=(0, 2), broadcast=lambda x: x)
    assert calls  # rank 0 probed with its own share: models 0 and 2
    sent = []

    def from_rank0(obj):
        sent.append(obj)
        return rank0

    calls.clear()
    monkeypatch.setattr(tuning, "time_call", no_clock)  # a rank-local probe would fail here
    rank1 = choose_paths(one_per_class, ["ConvNet"], 3, 2, shard=(1, 2), broadcast=from_rank0)
    assert rank1 == rank0 and sent == [None]
    with pytest.raises(ValueError, match="needs broadcast="):
        choose_paths(one_per_class, ["ConvNet"], 3, 2, shard=(1, 2))
    # Nothing left to decide: no collective, no broadcast needed.
    choose_paths(one_per_class, ["ConvNet"], 3, 2, shard=(1, 2), autotune=False)


def test_a_probe_whose_first_timings_are_outliers_does_not_decide(one_per_class, monkeypatch):
    # Eager's first timed steps still pay one-off costs (298 ms where the work takes 42 ms): a
    # probe that stopped at three calls would find channels-last (200 ms) faster and cache it.
    seconds = {
        "eager": iter([0.5, 0.298, 0.290, 0.280, 0.042, 0.041, 0.042, 0.043, 0.041]),
        "channels_last": iter([0.2] * 20),
        "ensemble": iter([0.2] * 20),
    }
    now = [0.0]

    def step(probe):
        now[0] += next(seconds[probe.path.variant])

    monkeypatch.setattr(tuning.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(autotune.ProbeStep, "__call__", step)
    paths = choose_paths(one_per_class, ["ConvNet"], num_models=2, epochs=3, progress=False)
    path = paths["ConvNet"]
    assert path.variant == "eager" and path.how == "probed"
    assert path.timings_ms["eager"] == pytest.approx(2 * 41.0)  # two networks, one by one


def test_a_cached_path_measured_far_slower_is_dropped_for_a_new_probe(one_per_class, digits):
    key = {"what": "a cached evaluation"}
    tuning.remember_choice(key, {"compile": True}, {"compiled": 20.0})
    cached = EvaluationPath(
        compile=True, how="cached", timings_ms={"compiled": 20.0}, cache_key=key
    )
    # 2 networks: 10 ms per network's step was cached; 4 steps per epoch.
    assert not autotune.recheck_pace(cached, 0.1, steps_per_epoch=4, networks=2)  # 25 ms: kept
    assert tuning.cached_choice(key) is not None
    with pytest.warns(UserWarning, match="probes again"):
        assert autotune.recheck_pace(cached, 0.2, steps_per_epoch=4, networks=2)  # 50 ms
    assert tuning.cached_choice(key) is None
    probed = EvaluationPath(how="probed", timings_ms={"eager": 1.0}, cache_key=key)
    assert not autotune.recheck_pace(probed, 9.0, steps_per_epoch=1, networks=1)  # just measured
