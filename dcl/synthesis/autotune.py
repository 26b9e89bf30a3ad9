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

import contextlib
import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.utilities.parsing import AttributeDict

from dcl import tuning

if TYPE_CHECKING:
    from dcl.synthesis.module import SynthesisModule

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


class Autotuned:
    """Mixin of ``SynthesisModule``: autotune at fit start, and loggers record what it chose.

    Expects ``speed_path``, ``_speed_applied``, ``matching`` and ``hparams`` on the module.
    """

    def on_fit_start(self) -> None:
        """Choose the path for the speed options left unset, on every rank."""
        tune(self)  # here, not in setup: the strategy has now put the images on their device

    def speed_context(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast when autotune chose it, else nothing (around loss and inner loop)."""
        return _autocast(self.device, bool(self.hparams.bf16))

    @property
    def hparams_initial(self) -> AttributeDict:
        """What loggers log (HPARAMS): as given, but the options autotune decided as they run."""
        decided = (self.speed_path or {}).get("choice", {})
        ran = {k: self.hparams[k] for k in decided if k in self.hparams}
        return AttributeDict({**super().hparams_initial, **ran})


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


def tune(module: SynthesisModule) -> None:
    """Decide (global rank 0: probe or cache), share with every rank, apply, report.

    A no-op with ``autotune`` off and on a continuing fit; a checkpoint's decision is reused.
    """
    if not module.hparams.autotune or module._speed_applied:
        return
    record = module.speed_path
    resumed = record is not None
    if not resumed and module.trainer.is_global_zero:
        record = decide(module)
    record = module.trainer.strategy.broadcast(record, src=0)  # every rank takes part
    for option, value in record["choice"].items():
        if _value(module, option) is None:  # a value set by hand is never overridden
            _set(module, option, value)
    if module.hparams.bf16 is None:  # not offered here: float32, recorded as what ran
        module.hparams["bf16"] = False
    module.speed_path, module._speed_applied = record, True
    path = {option: _value(module, option) for option in record["path"]}
    how = f"checkpoint, {record['how']}" if resumed else record["how"]
    if module.trainer.is_global_zero:  # not module.print: no progress bar exists yet to print it
        print(tuning.describe("Synthesis", path, record["timings_ms"], how), flush=True)
    if module.logger is not None and record["timings_ms"]:
        timings = {f"autotune_ms/{k}": v for k, v in record["timings_ms"].items()}
        module.logger.log_metrics(timings, step=0)


def decide(module: SynthesisModule) -> dict[str, Any]:
    """The decision for this run: ``{"choice", "timings_ms", "how", "path"}``."""
    method, hparams, device = module.matching, module.hparams, module.device
    offered = method.speed_options(module.context(module.step))
    auto = {k: list(v) for k, v in offered.items() if getattr(method, k, None) is None}
    # bfloat16 before channels-last: on CPU their pair measured slower than bfloat16 alone, and
    # a greedy search that took channels-last first would never try bfloat16 without it.
    if hparams.bf16 is None and _offers_bf16(module):
        auto["bf16"] = [False, True]
    if hparams.channels_last is None and method.network_calls:
        auto["channels_last"] = [False, True]
    path = [*offered, *MODULE_OPTIONS]
    fixed = {k: _value(module, k) for k in path if k not in auto and k != "compile"}
    if hparams.compile is not None:
        fixed["compile"] = hparams.compile
    if not auto and "compile" in fixed:
        return {"choice": {}, "timings_ms": {}, "how": "set by hand", "path": path}
    needs = {k: v for k, v in method.compile_needs.items() if k in auto}
    can_compile = (
        method.network_calls
        and "compile" not in fixed
        and tuning.compiler_available(device)
        and all(fixed.get(k, v) == v for k, v in method.compile_needs.items())
    )
    remaining = max(module.trainer.estimated_stepping_batches - module.step, 0)

    def worth(step_s: float) -> bool:
        return can_compile and step_s * remaining >= tuning.COMPILE_WORTH_S

    key = work_key(module, fixed)
    if (hit := _cached(key, can_compile, worth)) is not None:
        return {**hit, "how": "cached", "path": path}
    if remaining < MIN_PROBE_STEPS:
        choice = {k: v[0] for k, v in auto.items()}
        if "compile" not in fixed:
            choice["compile"] = False
        how = f"defaults: a run of {remaining:.0f} steps is too short to repay a probe"
        return {"choice": choice, "timings_ms": {}, "how": how, "path": path}
    compile_worth = None if "compile" in fixed else worth
    choice, timings_ms = search(auto, functools.partial(_time, module), compile_worth, needs)
    probed = any("compile" in name for name in timings_ms)
    tuning.remember_choice({**key, "compile_probed": probed}, choice, timings_ms)
    return {"choice": choice, "timings_ms": timings_ms, "how": "probed", "path": path}


def work_key(module: SynthesisModule, fixed: dict[str, Any]) -> dict[str, Any]:
    """What the decision depends on besides the machine: the step's work and the fixed options."""
    h, info, trainer = module.hparams, module.info, module.trainer
    return {
        **tuning.machine_key(module.device),
        "what": "synthesis",
        "method": module.method,
        "method_args": str(h.method_args or {}),
        "backbone": h.backbone,
        "shape": [info.channels, info.image_size, info.image_size],
        "classes": len(module._my_classes()),
        "ipc": module.ipc,
        "batch_real": h.batch_real,
        "metric": h.metric,
        "dsa": "none" if module.dsa is None else "_".join(module.dsa.ops),
        "precision": str(trainer.precision),
        "world_size": trainer.world_size,
        "multi_gpu": h.multi_gpu if trainer.world_size > 1 else None,
        "bf16_offered": _offers_bf16(module),
        "fixed": fixed,
    }


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


def _offers_bf16(module: SynthesisModule) -> bool:
    """bfloat16 is a candidate only where it was measured accurate and the hardware has units."""
    return (
        module.matching.bf16_measured
        and str(module.trainer.precision) in ("32-true", "32")
        and tuning.has_bf16_units(module.device)
    )


def _autocast(device: torch.device, on: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else contextlib.nullcontext()


def _value(module: SynthesisModule, option: str) -> Any:
    if option in MODULE_OPTIONS:
        return module.hparams[option]
    return getattr(module.matching, option)


def _set(module: SynthesisModule, option: str, value: Any) -> None:
    if option not in MODULE_OPTIONS:
        setattr(module.matching, option, value)
    if option in module.hparams:  # what ran: checkpoints, sets and HPARAMS record it
        module.hparams[option] = value


def _time(module: SynthesisModule, options: dict[str, Any]) -> float:
    """Seconds of one step under ``options``, leaving no trace on the run."""
    # A copy of the method: DC's network, its batch-norm statistics and NHWC layout stay as is.
    method = copy.deepcopy(module.matching)
    saved = {k: module.hparams[k] for k in MODULE_OPTIONS}
    for option, value in options.items():
        if option in MODULE_OPTIONS:
            module.hparams[option] = value
        else:
            setattr(method, option, value)
    step, precision = module.step, module.trainer.precision_plugin

    def run() -> None:
        # Every draw of the context is seeded by the step: no global random state is consumed.
        with precision.train_step_context(), _autocast(module.device, bool(options.get("bf16"))):
            loss = method.loss(module.context(step))
            if loss.requires_grad:  # the gradient is returned, never accumulated into .grad
                torch.autograd.grad(loss, [module.images], allow_unused=True)

    try:
        return tuning.time_call(Trial(dict(options), run), module.device)
    finally:
        module.hparams.update(saved)
