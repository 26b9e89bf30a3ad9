"""``RealDataModule``: the real dataset as Lightning sees it, with fast class-balanced sampling."""

from __future__ import annotations

import os
import warnings
from functools import cached_property

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from dcl.data.cache import dataset_info, load_split, resolve_data_root
from dcl.data.from_memory import FromMemory
from dcl.data.images import ClassImages
from dcl.data.memory import memory_info
from dcl.data.registry import STATIC_INFO, DatasetInfo, check_image_size, check_name
from dcl.data.splits import WhitenBatch, load_real, whiten_splits
from dcl.data.validation import carve, check_val_size
from dcl.data.zca import DEFAULT_EPS
from dcl.seeding import REAL, step_seed

__all__ = ["RealDataModule", "load_real"]


class RealDataModule(FromMemory, L.LightningDataModule):
    """Real train images on the device for sampling, and a DataLoader over the real test set.

    A registered dataset by name, or your own data in Python: ``RealDataModule.from_tensors``
    (image and label tensors) and ``RealDataModule.from_datasets`` (torchvision-style datasets).

    Args:
        dataset: Registry name: digits, mnist, fashionmnist, svhn, cifar10, cifar100,
            tinyimagenet or imagefolder.
        root: Folder holding the dataset files (``root/{train,test}/<class>`` for imagefolder);
            ``None``: ``$DCL_DATA_ROOT`` if set, else ``data`` (``default_data_root``).
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
        image_size: imagefolder only: resize the shorter side of every image to this (antialiased)
            and centre-crop a square of this side, for folders of differing image sizes (each
            size is cached separately). ``None``: the images must share one square size.
        zca: ZCA-whiten every real image served (MTT): fitted on the train split's pixels in
            [0, 1] (cached per data and eps), applied to train and test; ``real_batch``,
            ``train``/``test`` ``normalize`` and the test DataLoader give whitened images.
        zca_eps: ZCA regularisation, added to the covariance's eigenvalues (0.1 published).
        val_size: A validation split carved from the training split: images per class (int),
            or a fraction of the split (float in (0, 1), the same count from every class);
            0 or ``None``: none. ``train`` (so ``real_batch``, baselines, feature extractors
            and MTT's experts) is then the rest; ``val`` and ``val_dataloader`` serve it.
            Normalisation statistics and the ZCA fit stay those of the whole split.
        val_seed: Seed of the validation split; ``None``: ``seed`` (or the global seed).
    """

    def __init__(
        self,
        dataset: str = "digits",
        root: str | None = None,
        download: bool = False,
        cache_dir: str | None = None,
        seed: int | None = None,
        steps_per_epoch: int = 100,
        test_batch_size: int = 1024,
        num_workers: int = 0,
        prepare_data_per_node: bool = True,
        image_size: int | None = None,
        zca: bool = False,
        zca_eps: float = DEFAULT_EPS,
        val_size: int | float | None = 0,
        val_seed: int | None = None,
    ) -> None:
        super().__init__()
        check_val_size(val_size)  # now, not after the data is read
        # Synthesis has no validation_step: the evaluation callback reads the split, no loop.
        warnings.filterwarnings("ignore", message="You passed in a `val_dataloader` but have no")
        self.prepare_data_per_node = prepare_data_per_node
        self.dataset = check_name(dataset)
        self.image_size = check_image_size(self.dataset, image_size)
        # Splits given in memory (from_tensors, from_datasets); None: read the registry dataset.
        self._splits: dict[str, dict] | None = None
        self.root = str(resolve_data_root(root))  # resolved: records name the folder read
        self.download, self.cache_dir = download, cache_dir
        self.seed, self.steps_per_epoch = seed, steps_per_epoch
        self.test_batch_size, self.num_workers = test_batch_size, num_workers
        self.train: ClassImages | None = None
        self.test: ClassImages | None = None
        self.generator: torch.Generator | None = None
        self.base_seed, self.rank = 0, 0
        self.zca, self.zca_eps, self.whitening = zca, zca_eps, None  # whitening: the ZCA fit
        self.val_size, self.val_seed = val_size, val_seed
        self.val: ClassImages | None = None
        self.validation: dict | None = None  # the split's record, after setup

    @cached_property
    def info(self) -> DatasetInfo:
        """Dataset facts, without downloading anything (the CLI reads them in every process).

        Published datasets take their static facts (class names of CIFAR-100 and TinyImageNet
        arrive with the data in ``setup``); digits, image folders and splits given in memory
        measure their statistics on the train split, which needs no download.
        """
        if self._splits is not None:
            return memory_info(self.dataset, self._splits["train"])
        static = STATIC_INFO[self.dataset]
        if static.mean:
            return static
        return dataset_info(self.dataset, self._split(True, download=False))

    def _split(self, train: bool, download: bool | None = None) -> dict:
        if self._splits is not None:
            return self._splits["train" if train else "test"]
        download = self.download if download is None else download
        return load_split(self.dataset, self.root, train, download, self.cache_dir, self.image_size)

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
        if self._splits is None:
            self.__dict__["info"] = dataset_info(self.dataset, train)  # measured beats static
        info = self.info
        device, rank = torch.device("cpu"), 0
        if self.trainer is not None:
            device, rank = self.trainer.strategy.root_device, self.trainer.global_rank
        train, test = (ClassImages(s["images"], s["labels"], info) for s in (train, test))
        if self.zca:  # fitted where synthesis runs; cached on disk (registry datasets)
            fit = (self.zca_eps, self.cache_dir, device, self._splits is None)
            train, test, self.whitening = whiten_splits(train, test, *fit)
        # Carved before any consumer reads ``train``: it is the one place they all read.
        train, self.val, self.validation = carve(train, self.val_size, self.split_seed())
        self.train, self.test = train.to(device), test
        seed = self._seed()
        self.base_seed, self.rank = seed, rank
        self.generator = torch.Generator(device=device).manual_seed(seed + rank)

    def _seed(self) -> int:
        return self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))

    def split_seed(self) -> int:
        """The validation split's seed: ``val_seed``, else the module's (or the global) seed."""
        return self.val_seed if self.val_seed is not None else self._seed()

    def validation_spec(self) -> dict | None:
        """``{"val_size", "seed"}`` of the validation split, known before ``setup``; else None."""
        return {"val_size": self.val_size, "seed": self.split_seed()} if self.val_size else None

    def real_batch(
        self,
        n: int,
        classes: Tensor | None = None,
        step: int | None = None,
        rank: int | None = None,
        stream: int = REAL,
        seed: int | None = None,
    ) -> Tensor:
        """``(K, n, C, H, W)`` normalised (zca: whitened) real images, ``n`` distinct per class.

        Args:
            n: Images per class (distinct within a class).
            classes: ``(K,)`` classes to draw from (default: all, in label order).
            step: Reseed from (seed, rank, step) first, so a resumed run draws exactly what the
                uninterrupted one would have, on every rank (default: continue the stream).
            rank: Overrides the process rank (class sharding draws as rank 0 does, so shards add
                up to one process).
            stream: An independent draw of the same step (``dcl.seeding``).
            seed: Overrides the base seed (synthesis passes the run seed of its checkpoint).

        Returns:
            The images on the train split's device.
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
        """``(uint8 images, labels)``: normalise with ``test.normalize``; zca: whitened floats."""
        if self.test is None:
            self.setup()
        return self._loader(self.test)

    def val_dataloader(self) -> DataLoader:
        """The validation split as ``test_dataloader`` serves the test split.

        Raises:
            ValueError: No validation split (``val_size`` 0).
        """
        if self.train is None:
            self.setup()
        if self.val is None:
            raise ValueError("No validation split: set val_size (--data.val_size).")
        return self._loader(self.val)

    def _loader(self, split: ClassImages) -> DataLoader:
        data = TensorDataset(split.images.cpu(), split.labels.cpu())
        whiten = WhitenBatch(self.whitening.to("cpu")) if self.zca else None
        return DataLoader(
            data, self.test_batch_size, collate_fn=whiten, num_workers=self.num_workers
        )
