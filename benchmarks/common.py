"""Shared helpers of the benchmark tools: environment record, timing, memory and test data."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from dcl import tuning
from dcl.data import ClassImages, DatasetInfo, RealDataModule, SyntheticSet
from dcl.data.registry import STATIC_INFO

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
# Shapes the benchmarks mimic: dataset facts, train and test images per class of the real data.
# "digits" (1x8x8, statistics set to 0.5/0.25) is for quick checks and tests.
SHAPES: dict[str, tuple[DatasetInfo, int, int]] = {
    "mnist": (STATIC_INFO["mnist"], 6000, 1000),
    "cifar10": (STATIC_INFO["cifar10"], 5000, 1000),
    "digits": (dataclasses.replace(STATIC_INFO["digits"], mean=(0.5,), std=(0.25,)), 120, 50),
    # ImageNet-1K at TESLA's 64x64 (read through ``imagefolder``): Tiny ImageNet's shape, 1000
    # classes; only its shape is used (memory projections), never its images.
    "imagenet1k-64": (
        dataclasses.replace(STATIC_INFO["tinyimagenet"], name="imagenet1k-64", num_classes=1000),
        10,
        2,
    ),
}


def shape_info(shape: str) -> DatasetInfo:
    """The facts of a benchmark shape: ``SHAPES``' own, else the registered dataset's."""
    return SHAPES[shape][0] if shape in SHAPES else STATIC_INFO[shape]


def commit() -> dict[str, Any]:
    """The source revision: ``$DCL_COMMIT`` if set (machines without ``.git``), else git's."""
    if os.environ.get("DCL_COMMIT"):
        return {"commit": os.environ["DCL_COMMIT"], "dirty": None}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return {"commit": head, "dirty": bool(status)}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def command_line(tool: str, argv: list[str] | None) -> str:
    """How a benchmark tool was run, as a shell line (``argv`` ``None``: this process's)."""
    return f"python -m benchmarks.{tool} " + shlex.join(sys.argv[1:] if argv is None else argv)


def device_name(device: torch.device) -> str:
    """Human-readable device: the GPU's name, or the CPU model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{tuning.cpu_model()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def cpu_features() -> dict[str, bool]:
    """Which vector and matrix units the CPU has: they decide kernels, rounding and bf16 speed."""
    flags = tuning.cpu_flags()
    if not flags:
        return {}
    names = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {name: name in flags for name in names}


@contextlib.contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """Set ``name`` for the duration of the block, then restore (or remove) it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def fresh_autotune_cache(folder: str | Path) -> contextlib.AbstractContextManager[None]:
    """Autotune decides as on a first run: an empty decision cache in ``folder``."""
    return environment_variable("DCL_AUTOTUNE_CACHE", str(Path(folder) / "autotune.json"))


def run_worker(tool: str, job: Any) -> dict[str, Any]:
    """``python -m benchmarks.TOOL --worker JOB`` in a fresh process: its memory peak is its own."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        worker = ["--worker", json.dumps(dataclasses.asdict(job)), "--worker-output", str(out)]
        subprocess.run([sys.executable, "-m", f"benchmarks.{tool}", *worker], cwd=REPO, check=True)
        return json.loads(out.read_text())


def environment(device: torch.device) -> dict[str, Any]:
    """What produced a measurement: device, versions, revision, date and machine load."""
    import lightning

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "device": str(device),
        "device_name": device_name(device),
        "cpu_features": cpu_features(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": str(torch.__version__),
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        **commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average": list(load) if load else None,
    }


def resolve_device(name: str) -> torch.device:
    """``auto`` is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (a no-op on CPU), so wall-clock times are complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now() -> float:
    """Monotonic seconds."""
    return time.perf_counter()


def rss_mb() -> float:
    """Current resident set size of this process in MiB (0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak(device: torch.device) -> None:
    """Start a fresh CUDA peak (CPU RSS peaks cannot be reset: they are process-wide)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory in MiB: CUDA max allocated on GPU, else the process's max RSS."""
    if device.type == "cuda":
        return {"peak_mb": torch.cuda.max_memory_allocated(device) / 2**20, "kind": "cuda_max"}
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "kind": "max_rss"}


def random_split(info: DatasetInfo, per_class: int, seed: int) -> ClassImages:
    """Random uint8 images of a dataset's shape, ``per_class`` per class, sorted by class."""
    g = torch.Generator().manual_seed(seed)
    k, c, s = info.num_classes, info.channels, info.image_size
    images = torch.randint(0, 256, (k * per_class, c, s, s), generator=g, dtype=torch.uint8)
    labels = torch.arange(k).repeat_interleave(per_class)
    return ClassImages(images, labels, info)


class RandomDataModule(RealDataModule):
    """``RealDataModule`` over random images of a dataset's shape (same sampling code path).

    Args:
        shape: Key of ``SHAPES`` (``mnist`` or ``cifar10``).
        seed: Seeds the images and the sampler.
    """

    def __init__(self, shape: str, seed: int = 0) -> None:
        info, self._per_class, self._test_per_class = SHAPES[shape]
        super().__init__(dataset=info.name, seed=seed)
        self.__dict__["info"] = info

    def prepare_data(self) -> None:
        """Nothing to download or cache."""

    def setup(self, stage: str | None = None) -> None:
        """Make the images on the trainer's device and seed the sampler as the parent does."""
        if self.train is not None:
            return
        device = torch.device("cpu")
        if self.trainer is not None:
            device = self.trainer.strategy.root_device
        self.train = random_split(self.info, self._per_class, self.seed).to(device)
        self.test = random_split(self.info, self._test_per_class, self.seed + 1)
        self.base_seed, self.rank = self.seed, 0
        self.generator = torch.Generator(device=device).manual_seed(self.seed)


def save_and_evaluate(
    syn: SyntheticSet, path: Path, result: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Save a diagnostic set and, unless ``args.no_evaluate``, evaluate it into ``result``.

    ``args`` carries ``data_root``, ``num_models``, ``cache_dir`` and ``no_evaluate`` (the
    options of the ``*_rules`` diagnoses). Returns the set's summary entry: its file, the hash
    of its images and, when evaluated, the evaluation's JSON.
    """
    from dcl.evaluation.cli import main as evaluate_main  # the CLI's imports, only when used

    syn.save(path)
    entry: dict[str, Any] = {
        "set": str(path),
        "images_sha256": hashlib.sha256(syn.images.numpy().tobytes()).hexdigest(),
    }
    if not args.no_evaluate:
        evaluate_main(
            ["--synthetic", str(path), "--data_root", args.data_root, "--num_models",
             str(args.num_models), "--output", str(result)]
            + (["--cache_dir", args.cache_dir] if args.cache_dir else [])
        )  # fmt: skip
        entry["evaluation"] = str(result)
    return entry
