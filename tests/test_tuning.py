"""The generic autotune core: decisions, the cache, timing."""

import json

import pytest
import torch

from dcl import tuning


def test_fastest_keeps_the_plain_variant_on_near_ties():
    assert tuning.fastest({"plain": 10.0, "fast": 9.5}, "plain") == "plain"  # 5%: noise
    assert tuning.fastest({"plain": 10.0, "fast": 8.0, "faster": 7.0}, "plain") == "faster"
    assert tuning.fastest({"plain": 10.0, "slow": 12.0}, "plain") == "plain"


def test_decisions_round_trip_through_the_cache_and_keys_differ_by_content():
    key = {"device": "cpu", "network": "ConvNet", "shape": [1, 8, 8]}
    assert tuning.cached_choice(key) is None
    tuning.remember_choice(key, {"compile": False}, {"eager": 12.5})
    assert tuning.cached_choice(dict(reversed(key.items()))) == {  # order does not matter
        "choice": {"compile": False},
        "timings_ms": {"eager": 12.5},
    }
    assert tuning.cached_choice({**key, "shape": [3, 32, 32]}) is None
    data = json.loads(tuning.cache_file().read_text())
    assert data["format"] == tuning.CACHE_FORMAT and len(data["entries"]) == 1


def test_an_unreadable_cache_is_ignored_with_a_warning_and_replaced():
    tuning.cache_file().write_text("{not json")
    with pytest.warns(UserWarning, match="Ignoring the unreadable autotune cache"):
        assert tuning.cached_choice({"a": 1}) is None
    with pytest.warns(UserWarning):
        tuning.remember_choice({"a": 1}, {"x": 1}, {})
    assert tuning.cached_choice({"a": 1})["choice"] == {"x": 1}


def test_the_cache_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("DCL_AUTOTUNE_CACHE")
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path))
    assert tuning.cache_file() == tmp_path / "autotune.json"


class ScriptedClock:
    """A fake ``perf_counter`` whose timed work takes the scripted seconds, call after call."""

    def __init__(self, seconds: list[float]) -> None:
        self.now, self.seconds, self.calls = 0.0, iter(seconds), 0

    def perf_counter(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += next(self.seconds)


def scripted(monkeypatch, seconds: list[float]) -> ScriptedClock:
    clock = ScriptedClock(seconds)
    monkeypatch.setattr(tuning.time, "perf_counter", clock.perf_counter)
    return clock


def test_time_call_warms_up_then_returns_the_fastest_call(monkeypatch):
    clock = scripted(monkeypatch, [9.0, 9.0, 3.0, 1.0, 2.0, 1.02, 1.5])  # 2 warm-ups, then timed
    timing = tuning.time_call(clock.work, torch.device("cpu"), repeats=3, warmup=2)
    # The best (1.0) holds once the last 3 timed calls no longer beat the best before them.
    assert timing == 1.0 and clock.calls == 7
    assert timing.noise == pytest.approx(0.02)


def test_an_outlying_start_does_not_decide_the_timing(monkeypatch):
    # The first timed calls still pay one-off costs (the probe that measured 298 ms for 42 ms).
    clock = scripted(monkeypatch, [0.5, 0.298, 0.290, 0.042, 0.041, 0.042, 0.043, 0.041])
    timing = tuning.time_call(clock.work, torch.device("cpu"))
    assert timing == pytest.approx(0.041)
    assert clock.calls == 7  # 1 warm-up, 6 timed: the last 3 held 0.042 within 5% of 0.041


def test_time_call_stops_at_its_bounds(monkeypatch):
    falling = [1.0] + [1.0 - 0.07 * k for k in range(14)]  # never settles
    clock = scripted(monkeypatch, falling)
    assert tuning.time_call(clock.work, torch.device("cpu"), max_repeats=12) == pytest.approx(
        1.0 - 0.07 * 11
    )
    assert clock.calls == 13
    slow = scripted(monkeypatch, [8.0] * 10)  # three timed calls spend the 20 s budget
    assert tuning.time_call(slow.work, torch.device("cpu"), budget_s=20.0) == 8.0
    assert slow.calls == 4
    slower = scripted(monkeypatch, [38.0] * 4)  # one timed call is past the budget: no more
    assert tuning.time_call(slower.work, torch.device("cpu"), budget_s=20.0) == 38.0
    assert slower.calls == 2


def test_a_gain_within_the_probes_noise_is_no_gain():
    noisy = {"plain": tuning.Timing(10.0, 0.15), "fast": tuning.Timing(8.0, 0.1)}  # 20% faster
    assert tuning.noise_margin(*noisy.values()) == pytest.approx(0.25)
    assert tuning.fastest(noisy, "plain") == "plain"
    steady = {"plain": tuning.Timing(10.0, 0.01), "fast": tuning.Timing(8.0, 0.01)}
    assert tuning.noise_margin(*steady.values()) == tuning.MIN_GAIN
    assert tuning.fastest(steady, "plain") == "fast"


def test_a_forgotten_decision_is_probed_again():
    key = {"network": "ConvNet"}
    tuning.remember_choice(key, {"compile": True}, {"compiled": 1.0})
    tuning.remember_choice({"network": "MLP"}, {"compile": False}, {})
    tuning.forget_choice(key)
    assert tuning.cached_choice(key) is None
    assert tuning.cached_choice({"network": "MLP"}) is not None
    tuning.forget_choice(key)  # nothing to forget: no error


def test_machine_key_names_the_hardware_and_software():
    key = tuning.machine_key(torch.device("cpu"))
    assert key["device"] == "cpu" and key["torch"] == str(torch.__version__)
    assert key["cpu"] and key["threads"] == torch.get_num_threads() and key["capability"]


def test_describe_is_one_line_with_every_timing():
    timings = {"plain": 10.0, "compile": 5.4}
    line = tuning.describe("Synthesis", {"compile": True}, timings, "probed")
    assert line == "Synthesis path: compile=True (probed: plain 10 ms, compile 5 ms)"
    assert tuning.describe("X", {"a": 1}, {}, "set by hand") == "X path: a=1 (set by hand)"
