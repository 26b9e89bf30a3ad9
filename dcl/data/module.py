"""``RealDataModule``: the real dataset as Lightning sees it, with fast class-balanced sampling."""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from dcl.data.cache import dataset_info, load_split
from dcl.data.images import ClassImages
from dcl.data.registry import STATIC_INFO, DatasetInfo, check_name
from dcl.seeding import REAL, step_seed


def load_real(
    dataset: str,
    root: str | Path = "data",
    download: bool = False,
    cache_dir: str | Path | None = None,
) -> tuple[ClassImages, ClassImages]:
    """Load train and test splits of a registered dataset as ``ClassImages`` on the CPU."""
    train = load_split(dataset, root, True, download, cache_dir)
    test = load_split(dataset, root, False, download, cache_dir)
    info = dataset_info(dataset, train)
    return (
        ClassImages(train["images"], train["labels"], info),
        ClassImages(test["images"], test["labels"], info),
    )


class RealDataModule(L.LightningDataModule):
    """Real train images on the device for sampling, and a DataLoader over the real test set.

    Args:
        dataset: Registry name: digits, mnist, fashionmnist, svhn, cifar10, cifar100,
            tinyimagenet or imagefolder.
        root: Folder holding the dataset files (``root/{train,test}/<class>`` for imagefolder).
        download: Download through torchvision when the files are missing.
        cache_dir: Where compact uint8 copies of each split are kept (default ``$DCL_CACHE_DIR``
            or ``~/.cache/dcl``).
        seed: Base seed of the sampling generator; each process adds its global rank. ``None``
            uses the seed given to ``seed_everything`` (or 0).
        steps_per_epoch: Length of the (content-free) training "epoch": synthesis steps are
            counted by ``trainer.max_steps``; this only sets how often epoch-end hooks run.
        test_batch_size: Batch size of the test DataLoader.
        num_workers: Workers of the test DataLoader.
        prepare_data_per_node: Download and cache on one process per node (true) or on global
            rank 0 only (false: nodes share the file system).
    """

    def __init__(
        self,
        dataset: str = "digits",
        root: str = "data",
        download: bool = False,
        cache_dir: str | None = None,
        seed: int | None = None,
        steps_per_epoch: int = 100,
        test_batch_size: int = 1024,
        num_workers: int = 0,
        prepare_data_per_node: bool = True,
    ) -> None:
        super().__init__()
        self.prepare_data_per_node = prepare_data_per_node
        self.dataset = check_name(dataset)
        self.root, self.download, self.cache_dir = root, download, cache_dir
        self.seed, self.steps_per_epoch = seed, steps_per_epoch
        self.test_batch_size, self.num_workers = test_batch_size, num_workers
        self.train: ClassImages | None = None
        self.test: ClassImages | None = None
        self.generator: torch.Generator | None = None
        self.base_seed, self.rank = 0, 0

    @cached_property
    def info(self) -> DatasetInfo:
        """Dataset facts, without downloading anything (the CLI reads them in every process).

        Published datasets take their static facts (class names of CIFAR-100 and TinyImageNet
        arrive with the data in ``setup``); digits and image folders measure their statistics
        from the (cached) train split, which needs no download.
        """
        static = STATIC_INFO[self.dataset]
        if static.mean:
            return static
        return dataset_info(self.dataset, self._split(True, download=False))

    def _split(self, train: bool, download: bool | None = None) -> dict:
        download = self.download if download is None else download
        return load_split(self.dataset, self.root, train, download, self.cache_dir)

    def prepare_data(self) -> None:
        """Download (only when asked) and build the compact caches.

        Lightning calls this on one process per node (``prepare_data_per_node``, the default)
        or on global rank 0 only (set it false when the nodes share a file system).
        """
        self._split(True)
        self._split(False)

    def setup(self, stage: str | None = None) -> None:
        """Load both splits; put the train images on the trainer's device; seed the sampler."""
        if self.train is not None:
            return
        train, test = self._split(True), self._split(False)
        info = dataset_info(self.dataset, train)
        self.__dict__["info"] = info  # measured facts supersede static ones
        device, rank = torch.device("cpu"), 0
        if self.trainer is not None:
            device, rank = self.trainer.strategy.root_device, self.trainer.global_rank
        self.train = ClassImages(train["images"], train["labels"], info).to(device)
        self.test = ClassImages(test["images"], test["labels"], info)
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        self.base_seed, self.rank = seed, rank
        self.generator = torch.Generator(device=device).manual_seed(seed + rank)

    def real_batch(
        self,
        n: int,
        classes: Tensor | None = None,
        step: int | None = None,
        rank: int | None = None,
        stream: int = REAL,
        seed: int | None = None,
    ) -> Tensor:
        """``(K, n, C, H, W)`` normalised real images, ``n`` distinct ones per class.

        With ``step`` the generator is reseeded from (seed, rank, step) first, so a resumed run
        draws exactly what the uninterrupted one would have, on every rank. ``rank`` overrides
        the process rank (class sharding draws as rank 0 does, so shards add up to one process);
        ``stream`` picks an independent draw of the same step (``dcl.seeding``); ``seed``
        overrides the base seed (synthesis passes the run seed it keeps in its checkpoint).
        """
        if self.train is None or self.generator is None:
            self.setup()
        if step is not None:
            self.generator.manual_seed(
                step_seed(
                    self.base_seed if seed is None else seed,
                    self.rank if rank is None else rank,
                    step,
                    stream,
                )
            )
        return self.train.sample(n, self.generator, classes)

    def train_dataloader(self) -> DataLoader:
        """Step indices only: synthesis draws its real images through ``real_batch``."""
        # The "batches" carry no data, so resuming mid-epoch loses nothing; silence the warning.
        warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before")
        return DataLoader(range(self.steps_per_epoch), batch_size=None)

    def test_dataloader(self) -> DataLoader:
        """Real test set as ``(uint8 images, labels)``; normalise with ``self.test.normalize``."""
        if self.test is None:
            self.setup()
        data = TensorDataset(self.test.images, self.test.labels)
        return DataLoader(data, batch_size=self.test_batch_size, num_workers=self.num_workers)
