"""Fixtures shared by all tests: one torch thread and the bundled 8x8 digits, cached once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dcl.data import ClassImages, load_real


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny networks on a shared 2-core machine run far faster on one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset cache private to this test run."""
    return tmp_path_factory.mktemp("dcl-cache")


@pytest.fixture(scope="session")
def digits(digits_cache: Path) -> tuple[ClassImages, ClassImages]:
    """Train and test splits of scikit-learn's digits (1257 / 540 images, 1x8x8, 10 classes)."""
    return load_real("digits", cache_dir=digits_cache)
