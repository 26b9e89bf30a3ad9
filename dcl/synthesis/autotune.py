"""Synthesis's automatic choice among paths that compute the same loss (``--model.autotune``).

At the start of a run, the options left unset (``None``) are decided by timing the run's own
step (matching loss and gradient to the images, real shapes) under each candidate, one option at
a time: the matching method's own (``MatchingMethod.speed_options``: DM's ``class_chunk``, DC's
and DSA's ``batched``), then ``bf16`` (bfloat16 autocast: offered only on hardware with
bfloat16 units, in a float32 run, for methods whose sets were measured as accurate under it),
then ``channels_last``, then ``compile`` when a compiler exists and the run is long enough to repay
the compilation. All but ``bf16`` compute the same loss up to float rounding. The decision is
cached per machine and work (``dcl.tuning``), recorded in the hyperparameters (what ran) and
the checkpoint, and printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from dcl import tuning

# The probe times about four steps per candidate (one warm-up, three timed), a dozen or so in
# all: a run shorter than this keeps the defaults (or a cached decision) rather than pay for it.
MIN_PROBE_STEPS = 100
# Module-level options (``SynthesisModule.context`` and ``speed_context`` read them); the rest
# belong to the method. ``bf16`` is bfloat16 autocast around the matching step.
MODULE_OPTIONS = ("bf16", "channels_last", "compile")


@dataclass
class Trial:
    """One candidate's step, as handed to the timer; ``options`` name the variant it runs."""

    options: dict[str, Any]
    run: Callable[[], Any]

    def __call__(self) -> Any:
        """Run the step once."""
        return self.run()


@dataclass(frozen=True)
class Probe:
    """What autotune needs to know of a run, and the step it times: nothing else of the module.

    Attributes:
        offered: The method's speed options and their candidates (first: the default).
        values: The current value of every option of the path (``None``: automatic).
        bf16_offered: Whether bfloat16 autocast is a candidate (measured accurate, hardware).
        network_calls: Whether ``channels_last`` and ``compile`` act on the method's networks.
        compile_needs: Option values compile needs to take effect (``MatchingMethod``).
        remaining_steps: Image updates the run has left (whether compiling repays itself).
        work: What the decision depends on besides the machine (the cache key's content).
        device: Where the run computes.
        step: ``step(options)``: a context manager giving one image update's loss and image
            gradient under ``options`` as a call, that leaves no trace on the run.
    """

    offered: dict[str, list[Any]]
    values: dict[str, Any]
    bf16_offered: bool
    network_calls: bool
    compile_needs: dict[str, Any]
    remaining_steps: float
    work: dict[str, Any]
    device: torch.device
    step: Callable[[dict[str, Any]], Any]


def label(candidate: dict[str, Any], plain: dict[str, Any]) -> str:
    """``plain``, or the options where ``candidate`` differs from it joined by ``+``."""
    diff = [f"{k}={v}" for k, v in candidate.items() if k not in plain or plain[k] != v]
    return "+".join(diff) or "plain"


def search(
    options: dict[str, list[Any]],
    measure: Callable[[dict[str, Any]], float],
    compile_worth: Callable[[float], bool] | None = None,
    compile_needs: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Greedy search: each option in turn, from the first values, keeping the fastest so far.

    Args:
        options: Candidate values per option; the first is the default, kept on near-ties.
        measure: Seconds of one step under a full set of options.
        compile_worth: Given the best eager step's seconds, whether to try ``compile=True``;
            ``None`` when ``compile`` is not to be decided.
        compile_needs: Values of ``options`` that compile needs to take effect (DC: the loop).

    Returns:
        The chosen options (with ``compile`` when decided) and milliseconds per candidate.
    """
    best = {name: values[0] for name, values in options.items()}
    plain, seconds = dict(best), {"plain": measure(best)}
    name = "plain"
    for option, values in options.items():
        trial, candidates = {name: seconds[name]}, {}
        for value in values[1:]:
            candidate = {**best, option: value}
            key = label(candidate, plain)
            seconds[key] = trial[key] = measure(candidate)
            candidates[key] = candidate
        winner = tuning.fastest(trial, name)
        if winner != name:
            best, name = candidates[winner], winner
    if compile_worth is not None:
        best["compile"] = False
        if compile_worth(min(seconds.values())):
            candidate = {**best, **(compile_needs or {}), "compile": True}
            key = label(candidate, plain)
            seconds[key] = measure(candidate)
            if tuning.fastest({name: seconds[name], key: seconds[key]}, name) == key:
                best = candidate
    return best, {k: 1000.0 * s for k, s in seconds.items()}


def decide(probe: Probe) -> dict[str, Any]:
    """The decision for a run: ``{"choice", "timings_ms", "how", "path"}``."""
    values = probe.values
    auto = {k: list(v) for k, v in probe.offered.items() if values.get(k) is None}
    # bfloat16 before channels-last: on CPU their pair measured slower than bfloat16 alone, and
    # a greedy search that took channels-last first would never try bfloat16 without it.
    if values["bf16"] is None and probe.bf16_offered:
        auto["bf16"] = [False, True]
    if values["channels_last"] is None and probe.network_calls:
        auto["channels_last"] = [False, True]
    path = [*probe.offered, *MODULE_OPTIONS]
    fixed = {k: values[k] for k in path if k not in auto and k != "compile"}
    if values["compile"] is not None:
        fixed["compile"] = values["compile"]
    if not auto and "compile" in fixed:
        return {"choice": {}, "timings_ms": {}, "how": "set by hand", "path": path}
    needs = {k: v for k, v in probe.compile_needs.items() if k in auto}
    can_compile = (
        probe.network_calls
        and "compile" not in fixed
        and tuning.compiler_available(probe.device)
        and all(fixed.get(k, v) == v for k, v in probe.compile_needs.items())
    )
    remaining = probe.remaining_steps

    def worth(step_s: float) -> bool:
        return can_compile and step_s * remaining >= tuning.COMPILE_WORTH_S

    key = {**probe.work, "bf16_offered": probe.bf16_offered, "fixed": fixed}
    if (hit := _cached(key, can_compile, worth)) is not None:
        return {**hit, "how": "cached", "path": path}
    if remaining < MIN_PROBE_STEPS:
        choice = {k: v[0] for k, v in auto.items()}
        if "compile" not in fixed:
            choice["compile"] = False
        how = f"defaults: a run of {remaining:.0f} steps is too short to repay a probe"
        return {"choice": choice, "timings_ms": {}, "how": how, "path": path}
    compile_worth = None if "compile" in fixed else worth

    def measure(options: dict[str, Any]) -> float:
        with probe.step(options) as run:
            return tuning.time_call(Trial(dict(options), run), probe.device)

    choice, timings_ms = search(auto, measure, compile_worth, needs)
    probed = any("compile" in name for name in timings_ms)
    tuning.remember_choice({**key, "compile_probed": probed}, choice, timings_ms)
    return {"choice": choice, "timings_ms": timings_ms, "how": "probed", "path": path}


def _cached(
    key: dict[str, Any], can_compile: bool, worth: Callable[[float], bool]
) -> dict[str, Any] | None:
    """A cached decision that asked this run's compile question (long runs ask, short ones not)."""
    for probed in (True, False) if can_compile else (False,):
        hit = tuning.cached_choice({**key, "compile_probed": probed})
        timings = (hit or {}).get("timings_ms", {})
        eager = [ms for name, ms in timings.items() if "compile" not in name]
        if eager and worth(min(eager) / 1000) == probed:
            return hit
    return None
