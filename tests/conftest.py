"""Fixtures shared by all tests: one torch thread and the bundled 8x8 digits, cached once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# Inductor's on-disk cache is not keyed by ATEN_CPU_CAPABILITY: kernels and precompiled headers
# written by a native (AVX-512) run fail to compile ("'at::vec' has not been declared") or run
# wrong (NaN) in a later ATEN_CPU_CAPABILITY=default or avx2 run, which is how .ci/run reruns the
# numerics tests. A forced capability gets its own kernel cache and no precompiled headers (those
# always live in the default folder). Set before torch reads its configuration.
if "ATEN_CPU_CAPABILITY" in os.environ:
    forced = os.environ["ATEN_CPU_CAPABILITY"].lower()
    os.environ.setdefault(
        "TORCHINDUCTOR_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"dcl-inductor-{forced}")
    )
    os.environ.setdefault("TORCHINDUCTOR_CPP_CACHE_PRECOMPILE_HEADERS", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

from dcl.data import ClassImages, load_real  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny networks on a shared 2-core machine run far faster on one intra-op thread.

    ``DCL_TEST_THREADS=2`` runs the suite on two threads instead, to check that no verdict
    depends on how many threads split a reduction (``.ci/run`` does not set it).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("DCL_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def own_autotune_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Each test decides fast paths afresh: no decision leaks between tests or from the user's."""
    path = tmp_path_factory.mktemp("autotune") / "autotune.json"
    monkeypatch.setenv("DCL_AUTOTUNE_CACHE", str(path))


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset cache private to this test run."""
    return tmp_path_factory.mktemp("dcl-cache")


@pytest.fixture(scope="session")
def digits(digits_cache: Path) -> tuple[ClassImages, ClassImages]:
    """Train and test splits of scikit-learn's digits (1257 / 540 images, 1x8x8, 10 classes)."""
    return load_real("digits", cache_dir=digits_cache)


@pytest.fixture
def spread(record_property) -> Callable[[float, float], None]:
    """``spread(measured, bound)``: assert a rounding deviation is within its bound, and record it.

    The measured value lands in the JUnit XML (``record_property``), so
    ``benchmarks/kernel_matrix.sh`` can tabulate each test's spread under every kernel choice.
    """

    def check(measured: float, bound: float) -> None:
        record_property("spread", f"{measured:.3e}")
        record_property("bound", f"{bound:.3e}")
        assert measured <= bound, f"deviation {measured:.3e} exceeds its bound {bound:.3e}"

    return check
