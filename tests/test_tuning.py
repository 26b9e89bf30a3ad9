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


def test_time_call_warms_up_then_returns_the_fastest_call(monkeypatch):
    ticks = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # calls of 3, 1 and 2 seconds
    monkeypatch.setattr(tuning.time, "perf_counter", lambda: next(ticks))
    calls = []
    assert tuning.time_call(lambda: calls.append(1), torch.device("cpu"), 3, 2) == 1.0
    assert len(calls) == 5  # 2 untimed, 3 timed


def test_machine_key_names_the_hardware_and_software():
    key = tuning.machine_key(torch.device("cpu"))
    assert key["device"] == "cpu" and key["torch"] == str(torch.__version__)
    assert key["cpu"] and key["threads"] == torch.get_num_threads() and key["capability"]


def test_describe_is_one_line_with_every_timing():
    timings = {"plain": 10.0, "compile": 5.4}
    line = tuning.describe("Synthesis", {"compile": True}, timings, "probed")
    assert line == "Synthesis path: compile=True (probed: plain 10 ms, compile 5 ms)"
    assert tuning.describe("X", {"a": 1}, {}, "set by hand") == "X path: a=1 (set by hand)"
