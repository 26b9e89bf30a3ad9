"""RealDataModule on scikit-learn's digits: no trainer, no download, a few milliseconds a test."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dcl.data import DatasetNotFoundError, RealDataModule, load_real, load_split
from dcl.seeding import REAL, step_seed


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("digits-cache")


def module(cache_dir: Path, **kwargs) -> RealDataModule:
    return RealDataModule("digits", cache_dir=str(cache_dir), **kwargs)


def fake_trainer(rank: int) -> SimpleNamespace:
    return SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device("cpu")), global_rank=rank
    )


def test_info_before_setup(cache_dir: Path) -> None:
    info = module(cache_dir).info
    assert (info.name, info.channels, info.image_size, info.num_classes) == ("digits", 1, 8, 10)
    assert info.class_names == tuple(str(i) for i in range(10))
    assert len(info.mean) == len(info.std) == 1 and 0 < info.mean[0] < 1 and info.std[0] > 0


def test_setup_without_trainer(cache_dir: Path) -> None:
    dm = module(cache_dir, seed=3)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train) == 1258 and len(dm.test) == 539
    assert dm.train.device == torch.device("cpu") and dm.train.images.dtype == torch.uint8
    assert dm.train.counts.sum() == 1258 and (dm.train.counts > 0).all()
    assert (dm.base_seed, dm.rank) == (3, 0)
    train = load_split("digits", "x", True, cache_dir=cache_dir)
    assert dm.info.mean == tuple(train["mean"])


def test_real_batch_shape_and_values(cache_dir: Path) -> None:
    dm = module(cache_dir)
    batch = dm.real_batch(4)  # sets itself up on first use
    assert batch.shape == (10, 4, 1, 8, 8) and batch.dtype == torch.float32
    lo = (0 - dm.info.mean[0]) / dm.info.std[0]
    hi = (1 - dm.info.mean[0]) / dm.info.std[0]
    assert batch.min() >= lo - 1e-5 and batch.max() <= hi + 1e-5
    subset = dm.real_batch(2, torch.tensor([3, 7]))
    assert subset.shape == (2, 2, 1, 8, 8)


def test_generator_is_seeded_with_seed_plus_rank(cache_dir: Path) -> None:
    for seed, rank in ((5, 0), (5, 1), (0, 2)):
        dm = module(cache_dir, seed=seed)
        dm.trainer = fake_trainer(rank)
        dm.setup()
        assert dm.rank == rank
        expected = dm.train.sample(3, torch.Generator().manual_seed(seed + rank))
        assert torch.equal(dm.real_batch(3), expected)


def test_seed_defaults_to_the_global_seed(cache_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    dm = module(cache_dir)
    dm.setup()
    assert dm.base_seed == 11
    assert torch.equal(dm.real_batch(2), dm.train.sample(2, torch.Generator().manual_seed(11)))


def test_step_seeded_batches_are_reproducible(cache_dir: Path) -> None:
    dm = module(cache_dir, seed=7)
    a = dm.real_batch(5, step=3)
    dm.real_batch(5)  # unrelated draws in between change nothing
    assert torch.equal(dm.real_batch(5, step=3), a)
    assert not torch.equal(dm.real_batch(5, step=4), a)
    fresh = module(cache_dir, seed=7)  # a resumed run draws the same
    assert torch.equal(fresh.real_batch(5, step=3), a)
    g = torch.Generator().manual_seed(step_seed(7, 0, 3, REAL))
    assert torch.equal(dm.train.sample(5, g), a)
    assert not torch.equal(module(cache_dir, seed=8).real_batch(5, step=3), a)


def test_rank_changes_the_draw(cache_dir: Path) -> None:
    dm = module(cache_dir, seed=7)
    rank0 = dm.real_batch(5, step=3)
    dm.rank = 1
    rank1 = dm.real_batch(5, step=3)
    assert not torch.equal(rank0, rank1)
    assert torch.equal(dm.real_batch(5, step=3, rank=0), rank0)  # explicit rank wins
    other = module(cache_dir, seed=7)
    other.trainer = fake_trainer(1)
    assert torch.equal(other.real_batch(5, step=3), rank1)


def test_test_dataloader_yields_every_test_image_once(cache_dir: Path) -> None:
    dm = module(cache_dir, test_batch_size=100)
    batches = list(dm.test_dataloader())
    assert len(batches) == 6
    images = torch.cat([x for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    assert images.dtype == torch.uint8 and images.shape == (539, 1, 8, 8)
    test = load_split("digits", "x", False, cache_dir=cache_dir)
    seen = Counter(zip(map(bytes, images.numpy()), labels.tolist(), strict=True))
    truth = Counter(zip(map(bytes, test["images"].numpy()), test["labels"].tolist(), strict=True))
    assert seen == truth
    assert dm.test.normalize(images[:2]).dtype == torch.float32


def test_train_dataloader_is_step_indices(cache_dir: Path) -> None:
    dm = module(cache_dir, steps_per_epoch=7)
    assert list(dm.train_dataloader()) == list(range(7))


def test_load_real(cache_dir: Path) -> None:
    train, test = load_real("digits", cache_dir=cache_dir)
    assert (len(train), len(test)) == (1258, 539)
    assert train.info == test.info and train.info.num_classes == 10


def test_unknown_dataset_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="Known datasets"):
        RealDataModule("mnistt")


def test_prepare_data_does_not_download_unless_asked(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets

    seen = []
    real = torchvision.datasets.MNIST

    def spy(root, download=False, **kwargs):
        seen.append(download)
        return real(root, download=download, **kwargs)

    monkeypatch.setattr(torchvision.datasets, "MNIST", spy)
    dm = RealDataModule("mnist", root=str(tmp_path), cache_dir=str(tmp_path / "c"))
    with pytest.raises(DatasetNotFoundError, match="--data.download true"):
        dm.prepare_data()
    assert seen == [False]


@pytest.mark.parametrize("dataset", ["mnist", "cifar100", "tinyimagenet"])
def test_facts_never_download_only_prepare_data_does(tmp_path, monkeypatch, dataset):
    import dcl.data.module as module

    calls = []
    monkeypatch.setattr(module, "load_split", lambda *a, **k: calls.append(a) or {})
    dm = RealDataModule(dataset, root=str(tmp_path / "none"), download=True)
    info = dm.info  # what the CLI reads in every process while it builds the model
    assert info.num_classes > 0 and info.mean and not calls
    dm.prepare_data()  # once per node (Lightning's prepare_data_per_node), downloads if asked
    assert [c[2] for c in calls] == [True, False] and all(c[3] is True for c in calls)


def test_prepare_data_per_node_reaches_lightning():
    assert RealDataModule("digits").prepare_data_per_node is True
    assert RealDataModule("digits", prepare_data_per_node=False).prepare_data_per_node is False
