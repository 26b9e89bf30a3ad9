"""The refactor fingerprint's comparison: equal only when every tensor and value is equal."""

import torch

from benchmarks.fingerprint import RUNS, compare


def prints(loss: float = 0.5) -> dict:
    return {"dm": {"images": torch.zeros(2, 3), "losses": [loss, 0.25], "set_method": "dm"}}


def test_equal_fingerprints_compare_equal_and_any_difference_is_named():
    assert compare(prints(), prints()) == []
    (problem,) = compare(prints(), prints(loss=0.5000001))
    assert problem.startswith("dm.losses")
    changed = prints()
    changed["dm"]["images"][0, 0] = 1e-30  # one value, far below any tolerance
    assert [p.split(":")[0] for p in compare(prints(), changed)] == ["dm.images"]
    assert compare(prints(), {}) == ["dm: only in one file"]


def test_every_built_in_method_is_fingerprinted():
    from dcl.methods import BUILTIN

    assert set(RUNS) == set(BUILTIN)
