"""A fake probe clock for the evaluation autotuning tests: the winner is chosen by the test."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from dcl import tuning

real_time_call = tuning.time_call


def fake_clock(
    ms: Mapping[str, float] | Callable[[str], float], calls: list[str] | None = None
) -> Callable[..., float]:
    """A ``tuning.time_call`` that runs the probe step once and reports ``ms[variant]``.

    Compiled variants are not run (no compilation in these tests). Calls that are not the
    evaluation probe's (synthesis may probe too) go to the real clock.
    """
    lookup = ms if callable(ms) else ms.__getitem__

    def time_call(fn, device: torch.device, repeats: int = 3, warmup: int = 1) -> float:
        path = getattr(fn, "path", None)
        if path is None:
            return real_time_call(fn, device, repeats, warmup)
        if not path.compile:
            fn()
        if calls is not None:
            calls.append(path.variant)
        return lookup(path.variant) / 1000

    return time_call


def no_clock(fn, device, repeats: int = 3, warmup: int = 1) -> float:
    """A ``tuning.time_call`` for runs that must not probe evaluation."""
    if hasattr(fn, "path"):
        raise AssertionError("the evaluation was probed")
    return real_time_call(fn, device, repeats, warmup)
