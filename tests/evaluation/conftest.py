"""Fixtures of the evaluation tests."""

import pytest

from dcl import tuning
from dcl.evaluation import autotune


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An autotune cache of this test's own, probes on runs of any length, and no compiler by
    default (the autotuning tests use it for every test: ``pytestmark``)."""
    monkeypatch.setenv("DCL_AUTOTUNE_CACHE", str(tmp_path / "cache" / "autotune.json"))
    monkeypatch.setattr(autotune, "PROBE_WORTH_STEPS", 1)
    monkeypatch.setattr(tuning, "compiler_available", lambda device: False)
