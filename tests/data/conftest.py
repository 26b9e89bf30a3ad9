"""Fixtures for the data tests: tiny generated image trees and the real datasets, if any.

Real data is found through ``$DCL_DATA_ROOT`` (MNIST's torchvision ``MNIST/raw`` and
``cifar10-jpeg.tar.gz``, an archive of the CIFAR-10 image folder); tests that need it skip with
the reason when the variable is unset or the folder lacks the files.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
REALDATA_CACHE = REPO / ".cache" / "dcl-test"  # reused by every real-data test of one run
CIFAR_TREE = REPO / ".cache" / "cifar10-jpeg"


def real_data(relative: str) -> Path:
    """``$DCL_DATA_ROOT/relative``; skips the calling test when the variable or the file is missing.

    Read when a test runs (not at import), so a run can set the variable in ``conftest`` or
    the shell alike.
    """
    root = os.environ.get("DCL_DATA_ROOT")
    if not root:
        pytest.skip(
            "real data absent: DCL_DATA_ROOT is not set (point it at a folder holding "
            "MNIST/raw and cifar10-jpeg.tar.gz)"
        )
    path = Path(root) / relative
    if not path.exists():
        pytest.skip(f"real data absent: {path} not found (DCL_DATA_ROOT={root})")
    return path


def write_image(path: Path, array: np.ndarray) -> None:
    """Save an (H, W) or (H, W, 3) uint8 array as an image file (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def make_tree() -> Callable[..., dict[str, np.ndarray]]:
    """Factory writing ``root/<split>/<class>/<i>.png`` with random pixels.

    Returns the written pixels per split as ``(N, H, W, C)`` arrays in reading order (classes
    sorted, files sorted within a class), so tests can compare against a plain reference.
    """

    def make(
        root: Path,
        counts: dict[str, int],
        size: int = 8,
        gray: bool = False,
        splits: tuple[str, ...] = ("train", "test"),
        seed: int = 0,
    ) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        written = {}
        for split in splits:
            arrays = []
            for cls in sorted(counts):
                for i in range(counts[cls]):
                    shape = (size, size) if gray else (size, size, 3)
                    array = rng.integers(0, 256, shape, dtype=np.uint8)
                    write_image(root / split / cls / f"{i:03d}.png", array)
                    arrays.append(array[..., None] if gray else array)
            written[split] = np.stack(arrays)
        return written

    return make


def _unpack_cifar() -> Path:
    """Unpack ``$DCL_DATA_ROOT/cifar10-jpeg.tar.gz`` into ``<repo>/.cache`` once (atomic rename)."""
    if (CIFAR_TREE / "train").is_dir() and (CIFAR_TREE / "test").is_dir():
        return CIFAR_TREE
    archive = real_data("cifar10-jpeg.tar.gz")
    staging = CIFAR_TREE.parent / f".unpack-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    shutil.rmtree(CIFAR_TREE, ignore_errors=True)
    os.replace(staging / "cifar10-jpeg", CIFAR_TREE)
    shutil.rmtree(staging, ignore_errors=True)
    return CIFAR_TREE


@pytest.fixture(scope="session")
def cifar10_tree() -> Path:
    """Root of the CIFAR-10 image folder (``train/`` and ``test/``), unpacked if needed."""
    return _unpack_cifar()


@pytest.fixture(scope="session")
def cifar10_loaded(cifar10_tree: Path) -> tuple[object, object, float]:
    """CIFAR-10 loaded once per run through the imagefolder dataset: (train, test, seconds).

    The first run builds the cache (cold, tens of seconds); later runs read it. Every CIFAR test
    shares this load, so nothing reads the JPEGs twice.
    """
    from dcl.data import load_real

    start = time.perf_counter()
    train, test = load_real("imagefolder", cifar10_tree, cache_dir=REALDATA_CACHE)
    return train, test, time.perf_counter() - start
