"""Real MNIST and CIFAR-10 (image folder) from ``$DCL_DATA_ROOT``; skipped when absent."""

from __future__ import annotations

import time

import pytest
import torch

from dcl.data import load_real, load_split

from .conftest import REALDATA_CACHE, real_data

pytestmark = pytest.mark.realdata

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@pytest.fixture(scope="module")
def mnist_root():
    return real_data("MNIST/raw").parent.parent  # torchvision's root holds MNIST/raw


def test_mnist(mnist_root) -> None:
    train, test = load_real("mnist", mnist_root, cache_dir=REALDATA_CACHE)
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    assert train.counts.tolist() == MNIST_TRAIN_COUNTS
    assert test.counts.tolist() == MNIST_TEST_COUNTS
    assert int(train.counts.sum()) == 60000 and int(test.counts.sum()) == 10000
    assert train.info.mean == (0.1307,) and train.info.num_classes == 10
    measured = load_split("mnist", mnist_root, True, cache_dir=REALDATA_CACHE)
    assert measured["mean"][0] == pytest.approx(0.1307, abs=5e-4)  # pixels are the real ones
    assert measured["stats_std"][0] == pytest.approx(0.3081, abs=5e-4)


@pytest.mark.slow
def test_cifar10_imagefolder(cifar10_loaded) -> None:
    train, test, _ = cifar10_loaded
    assert (len(train), len(test)) == (50000, 10000)
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    assert train.info.name == "imagefolder" and train.info.num_classes == 10
    assert train.info.class_names == CIFAR10_CLASSES
    assert train.counts.tolist() == [5000] * 10 and test.counts.tolist() == [1000] * 10
    for measured, published in zip(train.info.mean, (0.4914, 0.4822, 0.4465), strict=True):
        assert measured == pytest.approx(published, abs=0.01)
    batch = train.sample(8, torch.Generator().manual_seed(0))
    assert batch.shape == (10, 8, 3, 32, 32)
    assert abs(float(batch.mean())) < 0.5  # roughly centred by the measured statistics


@pytest.mark.slow
def test_cifar10_warm_load_reads_the_cache_only(cifar10_tree, cifar10_loaded, monkeypatch) -> None:
    """The second load of CIFAR-10 decodes no JPEG: it reads the uint8 cache (fast by design).

    Timings are printed, not asserted: a timed test's verdict would depend on the machine.
    """
    import PIL.Image

    def no_decoding(*args, **kwargs):
        raise AssertionError("a warm load decoded an image instead of reading the cache")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    train, test, first_seconds = cifar10_loaded
    start = time.perf_counter()
    warm_train, warm_test = load_real("imagefolder", cifar10_tree, cache_dir=REALDATA_CACHE)
    seconds = time.perf_counter() - start
    print(f"CIFAR-10 image folder: first load {first_seconds:.2f}s, warm load {seconds:.2f}s")
    assert torch.equal(warm_train.images, train.images)
    assert torch.equal(warm_test.labels, test.labels)
