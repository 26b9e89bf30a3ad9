"""Pick the fastest of equivalent ways to compute the same thing, like cuDNN's benchmark mode.

Synthesis and evaluation offer variants that compute the same maths at different speeds on
different machines (``torch.compile``, channels-last tensors, how many classes share a network
call, batched or per-class gradients, ensembles). Which one wins depends on the CPU's vector and
matrix units or the GPU, the network and the shapes, so a short timed probe on the run's own
work decides, and the decision is cached per machine, software and shape: a second run of the
same setting (the quick start) does not probe again.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import torch

from dcl.calls import cpu_compiler
from dcl.data.cache import default_cache_dir

# A compile costs about half a minute on CPU (C++ kernels) and tens of seconds on GPU; below this
# much estimated run time even a large speed-up cannot repay it, so the probe does not try it.
COMPILE_WORTH_S = 120.0
# A variant must beat the plain one by this fraction to be chosen: a probe's few repeats on a
# shared machine scatter by several percent, and a decision is cached, so near-ties keep the
# plain path (the reference).
MIN_GAIN = 0.10
CACHE_FORMAT = "dcl-autotune-v1"
# A probe's minimum is taken as settled when the last few calls come within this of it.
STABLE_WITHIN = 0.05


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """``(model name, flags)`` of the first CPU in ``/proc/cpuinfo`` (empty where unreadable)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "", frozenset()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return model, frozenset(flags)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    return _cpuinfo()[0] or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx2``, ``avx512_bf16``, ``amx_bf16``, ...)."""
    return _cpuinfo()[1]


def machine_key(device: torch.device) -> dict[str, Any]:
    """What decides which variant is fastest, besides the work: hardware and software."""
    key: dict[str, Any] = {"torch": str(torch.__version__), "device": device.type}
    if device.type == "cuda":
        key["gpu"] = torch.cuda.get_device_name(device)
    else:
        key.update(
            cpu=cpu_model(),
            cores=os.cpu_count(),
            threads=torch.get_num_threads(),
            capability=torch.backends.cpu.get_cpu_capability(),
        )
    return key


def compiler_available(device: torch.device) -> bool:
    """Whether ``torch.compile`` can generate code here: a C++ compiler, or Triton on GPU."""
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return False
        return True
    return cpu_compiler() is not None


def has_bf16_units(device: torch.device) -> bool:
    """Whether the hardware computes bfloat16 natively (GPU support; CPU AVX-512 BF16 or AMX).

    Without such units bfloat16 autocast is emulated and measured many times slower on CPU.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return not cpu_flags().isdisjoint({"avx512_bf16", "amx_bf16"})


def cache_file() -> Path:
    """``$DCL_AUTOTUNE_CACHE``, else ``$DCL_CACHE_DIR/autotune.json`` (``~/.cache/dcl``)."""
    if os.environ.get("DCL_AUTOTUNE_CACHE"):
        return Path(os.environ["DCL_AUTOTUNE_CACHE"])
    return default_cache_dir() / "autotune.json"


def _entries(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return dict(data["entries"])
    except (ValueError, KeyError, TypeError, OSError) as err:
        warnings.warn(f"Ignoring the unreadable autotune cache {path} ({err}).", stacklevel=2)
        return {}


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def cached_choice(key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision recorded for ``key`` (``{"choice", "timings_ms"}``), or ``None``."""
    return _entries(cache_file()).get(_key_text(key))


def remember_choice(
    key: Mapping[str, Any], choice: Mapping[str, Any], timings_ms: Mapping[str, float]
) -> None:
    """Record a decision for ``key`` (the file is replaced atomically; failures only warn)."""
    entries = _entries(cache_file())
    entries[_key_text(key)] = {"choice": dict(choice), "timings_ms": dict(timings_ms)}
    _write_entries(entries, "record the autotune decision")


def forget_choice(key: Mapping[str, Any]) -> None:
    """Drop the decision recorded for ``key``, if any, so that the next run probes again."""
    entries = _entries(cache_file())
    if entries.pop(_key_text(key), None) is not None:
        _write_entries(entries, "drop the autotune decision")


def _write_entries(entries: Mapping[str, Any], what: str) -> None:
    path = cache_file()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "entries": entries}, indent=1))
        os.replace(tmp, path)
    except OSError as err:  # a read-only home must not stop a run
        warnings.warn(f"Could not {what} in {path} ({err}).", stacklevel=3)
    finally:
        tmp.unlink(missing_ok=True)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timing(float):
    """Seconds of a call's fastest run, and how far apart its fastest runs were.

    Attributes:
        noise: The second-fastest run's excess over the fastest, relative (0.05: 5% slower).
            Two variants closer than their noise are a tie.
    """

    noise: float

    def __new__(cls, seconds: float, noise: float = 0.0) -> Timing:
        """A timing of ``seconds`` with relative ``noise``."""
        timing = super().__new__(cls, seconds)
        timing.noise = noise
        return timing


def time_call(
    fn: Callable[[], Any],
    device: torch.device,
    repeats: int = 3,
    warmup: int = 1,
    max_repeats: int = 12,
    budget_s: float = 20.0,
) -> Timing:
    """Fastest wall time of ``fn()``, timed until that minimum is stable, after warm-up calls.

    The minimum, not the mean: other work on a shared machine only ever adds time, so the
    fastest call is the steadiest estimate of what the variant itself costs. The first calls of
    a process can pay one-off costs for several calls (thread pools, allocator growth, kernel
    selection), so timing goes on until the last ``repeats`` calls no longer beat the earlier
    best by more than ``STABLE_WITHIN``; ``max_repeats`` calls or ``budget_s`` seconds of timed
    calls end it sooner, so a slow variant costs about the budget, not ``repeats`` slow calls
    (a variant slower than the budget is timed once: DC's vmap-ed probe on MNIST took 38 s a
    call beside a 15 s plain step).

    Args:
        fn: The work to time (one step, one batch).
        device: Synchronised around each call on GPU, where kernels run asynchronously.
        repeats: Timed calls at least (unless the budget is spent first), and the window in
            which the minimum must hold.
        warmup: Untimed calls first (first-call costs: allocation, compilation, autotuning).
        max_repeats: Timed calls at most.
        budget_s: Seconds of timed calls after which no further call starts.

    Returns:
        The shortest time of one call, in seconds, with its ``noise``.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while True:
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
        earlier = times[:-repeats]
        if earlier and min(earlier) <= (1.0 + STABLE_WITHIN) * min(times):
            break  # the last `repeats` calls did not beat the earlier best
        if len(times) >= max_repeats or sum(times) >= budget_s:
            break
    best, *rest = sorted(times)
    return Timing(best, (rest[0] - best) / best if rest and best > 0 else 0.0)


def fastest(timings: Mapping[str, float], plain: str) -> str:
    """The fastest variant, unless it beats ``plain`` by less than ``noise_margin`` of them all.

    Args:
        timings: Seconds (or any time unit) per variant name; ``Timing`` values bring their
            noise, which widens the margin (plain floats count as noiseless).
        plain: The reference variant, kept on near-ties.

    Returns:
        The chosen variant's name.
    """
    best = min(timings, key=timings.__getitem__)
    margin = noise_margin(*timings.values())
    return best if timings[best] < (1.0 - margin) * timings[plain] else plain


def noise_margin(*timings: float) -> float:
    """The gain two timings must differ by to be told apart: ``MIN_GAIN`` or their noise."""
    return max(MIN_GAIN, sum(getattr(t, "noise", 0.0) for t in timings))


def describe(
    what: str, choice: Mapping[str, Any], timings_ms: Mapping[str, float], how: str
) -> str:
    """One line for the log: the chosen variant and every timing behind it.

    Args:
        what: What was tuned, e.g. ``"Synthesis"``.
        choice: The chosen options.
        timings_ms: Milliseconds per probed variant.
        how: ``"probed"``, ``"cached"`` or ``"set by hand"``.

    Returns:
        e.g. ``Synthesis path: compile=False, channels_last=False (probed: eager 41 ms, ...)``.
    """
    options = ", ".join(f"{k}={v}" for k, v in choice.items())
    times = ", ".join(f"{name} {ms:.0f} ms" for name, ms in timings_ms.items())
    return f"{what} path: {options} ({how}{': ' + times if times else ''})"
