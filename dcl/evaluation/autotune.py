"""How each architecture's evaluation networks train fastest here: probed, cached, shared by ranks.

The protocol can train an architecture's networks plainly, on channels-last tensors, through
``torch.compile`` or together in one ``vmap``-ed ensemble: the same maths at speeds that depend
on the machine, network and set. Options left ``None`` are decided, one at a time (channels-last,
then the ensemble, then compilation), by timing a few training steps (augmentation, forward,
backward, SGD step, the protocol's batch) of throwaway networks on the set itself, under a
forked RNG: the evaluated networks and every random draw are those of a hand-set run. The
decision is cached per machine, network and shape (``dcl.tuning``), and in a distributed run
rank 0 decides and broadcasts, so every rank trains the same way.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from dcl import tuning
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.ensemble import can_ensemble
from dcl.evaluation.module import EvaluationModule
from dcl.evaluation.probe import ProbeStep
from dcl.evaluation.recipe import Like, Recipe, recipes
from dcl.networks import is_class_path

# A probe costs about 20 training steps (a warm-up and 3 timed steps per variant); below this many
# steps in the whole run it could not pay for itself, so short runs keep the defaults untimed.
PROBE_WORTH_STEPS = 100
PROBE_SEED = 0x70B3  # throwaway networks: their own seeds, whatever the evaluated ones are
# A cached path measured this many times slower than its cached timing is probed anew.
REPROBE_FACTOR = 3.0


@dataclasses.dataclass
class EvaluationPath:
    """How one architecture's networks train and test: the same maths on every path.

    Attributes:
        compile: Through ``torch.compile``'d forwards.
        channels_last: On channels-last (NHWC) tensors.
        ensemble: The rank's networks together in one ``vmap``-ed pass (when it has several and
            the network allows it; otherwise one by one on the plain path).
        how: ``probed``, ``cached``, ``set by hand``, ``autotune off`` or ``defaults: ...``
            (a run too short to repay a probe).
        timings_ms: Milliseconds per training step of all the rank's networks, per probed path.
        cache_key: Where the decision is cached (``None``: not cached).
    """

    compile: bool = False
    channels_last: bool = False
    ensemble: bool = False
    how: str = "set by hand"
    timings_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    cache_key: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """What a results file records: every field but the cache key (machine details)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "cache_key"}

    def options(self) -> dict[str, bool]:
        """``{"compile", "channels_last", "ensemble"}``."""
        return {k: getattr(self, k) for k in ("compile", "channels_last", "ensemble")}

    @property
    def variant(self) -> str:
        """``eager``, ``compiled``, ``channels_last``, ``compiled+channels_last``, ``ensemble``."""
        if self.ensemble:
            return "ensemble"
        on = (("compiled", self.compile), ("channels_last", self.channels_last))
        return "+".join(name for name, used in on if used) or "eager"

    def describe(self, network: str) -> str:
        """The log line: the path and the timings behind it."""
        return tuning.describe(f"Evaluation ({network})", self.options(), self.timings_ms, self.how)


def choose_paths(
    syn: SyntheticSet,
    models: list[str],
    num_models: int = 3,
    epochs: int | None = None,
    augment: str = "auto",
    device: torch.device | str = "cpu",
    like: Like | None = None,
    compile: bool | None = None,
    channels_last: bool | None = None,
    ensemble: bool | None = None,
    autotune: bool = True,
    shard: tuple[int, int] = (0, 1),
    broadcast: Callable[[Any], Any] | None = None,
    progress: bool = True,
) -> dict[str, EvaluationPath]:
    """The path each architecture of ``run_protocol`` trains on (the same arguments as it).

    Explicit options are kept. With ``autotune`` the others are probed (or read from the cache);
    without it they take the plain defaults: no compilation, NCHW tensors, the ensemble on CUDA
    only. A run of fewer than ``PROBE_WORTH_STEPS`` training steps keeps the defaults too.

    Args:
        syn: The set the networks train on.
        models: Network names or class paths.
        num_models: Networks per architecture (``shard`` gives this rank's share).
        epochs: As for ``run_protocol``.
        augment: As for ``run_protocol``.
        device: Where the networks train.
        like: As for ``run_protocol``.
        compile: Through ``torch.compile`` (``None``: decided).
        channels_last: On channels-last tensors (``None``: decided).
        ensemble: Together in one ``vmap``-ed pass (``None``: decided).
        autotune: Decide the ``None`` options by a probe; else take the defaults.
        shard: ``(rank, world_size)``: rank 0 decides for all.
        broadcast: Sends rank 0's object to every rank (a Fabric's or Lightning strategy's
            ``broadcast``); required when several ranks leave options to the probe.
        progress: Print one line per architecture.

    Returns:
        The path per architecture, the same on every rank.

    Raises:
        ValueError: Several ranks and options left to the probe, but no ``broadcast``.
    """
    device = torch.device(device)
    fixed = {"compile": compile, "channels_last": channels_last, "ensemble": ensemble}
    rank, world_size = shard
    if not autotune or None not in fixed.values():
        how = "set by hand" if None not in fixed.values() else "autotune off"
        paths = {name: _defaults(fixed, device, how) for name in models}
    else:
        if world_size > 1 and broadcast is None:
            raise ValueError(
                "Evaluating on several ranks with compile, channels_last or ensemble left to the "
                "probe needs broadcast= (the Fabric's or strategy's broadcast), so that every rank "
                "trains the way rank 0 decides; or set the three options, or autotune=False."
            )
        paths = None
        if rank == 0:
            plan = recipes(syn, models, augment, epochs, like)
            mine = len(range(0, num_models, world_size))
            paths = {name: _decide(name, plan[name], syn, mine, device, fixed) for name in models}
        if world_size > 1:
            paths = broadcast(paths)
    if progress:
        for name, path in paths.items():
            print(path.describe(name), flush=True)
    return paths


def _defaults(fixed: Mapping[str, bool | None], device: torch.device, how: str) -> EvaluationPath:
    """Explicit options, else today's defaults (batched convolutions won on CUDA only)."""
    defaults = {"compile": False, "channels_last": False, "ensemble": device.type == "cuda"}
    return EvaluationPath(**{k: defaults[k] if v is None else v for k, v in fixed.items()}, how=how)


def _decide(
    name: str,
    recipe: Recipe,
    syn: SyntheticSet,
    count: int,
    device: torch.device,
    fixed: Mapping[str, bool | None],
) -> EvaluationPath:
    """The cached decision for this setting, else a probe's (then cached)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):

        def throwaway(k: int) -> list[EvaluationModule]:
            return [
                EvaluationModule(
                    name,
                    syn.info,
                    recipe.epochs,
                    augment=recipe.augment,
                    seed=PROBE_SEED + i,
                    dsa_strategy=recipe.dsa_strategy,
                    batch_size=recipe.batch_size,
                ).to(device)
                for i in range(k)
            ]

        (first,) = throwaway(1)
        batch = min(first.hparams.batch_size, len(syn.images))
        steps_per_model = (recipe.epochs + 1) * math.ceil(len(syn.images) / batch)
        if (steps := count * steps_per_model) < PROBE_WORTH_STEPS:
            how = f"defaults: a run of {steps} steps is too short to repay a probe"
            return _defaults(fixed, device, how)
        key = {
            "what": "evaluation",
            **tuning.machine_key(device),
            "network": name,
            "set": [*syn.images.shape[1:], len(syn.images), syn.info.num_classes],
            "epochs": recipe.epochs,
            "augment": recipe.augment,
            "dsa_strategy": recipe.dsa_strategy,
            "precision": _precision(device),
            "models": count,
            "batch_size": batch,
            "set_by_hand": {k: v for k, v in fixed.items() if v is not None},
        }
        hit = tuning.cached_choice(key)
        if hit is not None:
            return EvaluationPath(
                **hit["choice"], how="cached", timings_ms=hit["timings_ms"], cache_key=key
            )
        images = syn.images[:batch].to(device)
        labels = syn.labels[:batch].to(device)
        ensemble_ok = count > 1 and not is_class_path(name) and can_ensemble(first)

        def step(path: EvaluationPath) -> ProbeStep:
            batched = path.ensemble and ensemble_ok
            modules = throwaway(count if batched else 1)
            return ProbeStep(path, modules, images, labels, count, batched)

        one_by_one = fixed["compile"] or fixed["channels_last"]  # set by hand: not the ensemble
        candidates = {
            "channels_last": _has_convolutions(first.net),
            "ensemble": ensemble_ok and not one_by_one,
            "compile": tuning.compiler_available(device),
        }
        start = EvaluationPath(
            compile=bool(fixed["compile"]),
            channels_last=bool(fixed["channels_last"]),
            ensemble=bool(fixed["ensemble"]) and ensemble_ok,
            how="probed",
        )
        options = [o for o, ok in candidates.items() if ok and fixed[o] is None]
        path = _greedy(step, start, options, steps_per_model, device)
        if fixed["ensemble"] is not None:  # as set, even where it cannot apply
            path = dataclasses.replace(path, ensemble=fixed["ensemble"])
        tuning.remember_choice(key, path.options(), path.timings_ms)
        return dataclasses.replace(path, cache_key=key)


def recheck_pace(
    path: EvaluationPath, epoch_seconds: float | None, steps_per_epoch: int, networks: int
) -> bool:
    """Drop a cached decision that this run measures far slower than its cached timing.

    A probe on a busy machine, or one whose first calls paid one-off costs, can cache a path that
    is slower than the alternatives; without this every later run of the shape would keep it. The
    next run (or the next architecture of the same shape) probes anew.

    Args:
        path: The path the first network trained on.
        epoch_seconds: That network's median epoch time (``None``: too few epochs to tell).
        steps_per_epoch: Training steps per epoch.
        networks: The rank's networks of the architecture (the cached timing covers all).

    Returns:
        Whether the cached decision was dropped.
    """
    cached = path.timings_ms.get(path.variant)
    if path.how != "cached" or path.cache_key is None or not cached or epoch_seconds is None:
        return False
    expected_ms = cached / (1 if path.ensemble else networks)  # one network's step
    measured_ms = 1000 * epoch_seconds / steps_per_epoch
    if measured_ms <= REPROBE_FACTOR * expected_ms:
        return False
    tuning.forget_choice(path.cache_key)
    warnings.warn(
        f"Evaluation path {path.variant} ran {measured_ms:.0f} ms per step against the "
        f"{expected_ms:.0f} ms cached for it; its cached choice is dropped, so the next "
        "evaluation of this shape probes again.",
        stacklevel=2,
    )
    return True


def _greedy(
    step: Callable[[EvaluationPath], ProbeStep],
    path: EvaluationPath,
    options: list[str],
    steps_per_model: int,
    device: torch.device,
) -> EvaluationPath:
    """Try each option in turn on the best path so far; keep it where ``tuning.fastest`` says."""
    timings: dict[str, float] = {}

    def timed(candidate: EvaluationPath) -> float:
        if candidate.variant not in timings:
            probe = step(candidate)
            seconds = tuning.time_call(probe, device)
            ms = 1000 * seconds * probe.repeat
            timings[candidate.variant] = tuning.Timing(ms, getattr(seconds, "noise", 0.0))
        return timings[candidate.variant]

    timed(path)
    for option in options:
        if path.ensemble:  # compilation and layout do not apply to the ensemble
            break
        run_seconds = steps_per_model * timings[path.variant] / 1000
        if option == "compile" and run_seconds < tuning.COMPILE_WORTH_S:
            continue  # the one-off compilation could not pay for itself
        change = {"compile": False, "channels_last": False} if option == "ensemble" else {}
        other = dataclasses.replace(path, **{option: True, **change})
        try:
            pair = {path.variant: timings[path.variant], other.variant: timed(other)}
        except Exception as err:  # an optional speed-up that cannot run here is not taken
            warnings.warn(f"Evaluation path {other.variant} failed its probe: {err}", stacklevel=2)
            continue
        # A gain within the two probes' own scatter is no gain: the plain path stays.
        path = other if tuning.fastest(pair, path.variant) == other.variant else path
    return dataclasses.replace(path, timings_ms=timings)


def _has_convolutions(net: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in net.modules())


def _precision(device: torch.device) -> str:
    """The autocast dtype the evaluation runs under, if any (it changes the kernels)."""
    if torch.is_autocast_enabled(device.type):
        return str(torch.get_autocast_dtype(device.type))
    return "32-true"
