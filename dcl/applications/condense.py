"""Class-subset views of real data, and DM condensation of them through ``SynthesisModule``.

Both applications condense small pieces of a dataset many times (continual learning: only the
classes of one step; NAS: a quick proxy set). ``condense_dm`` is a DM run of ``SynthesisModule``
under a quiet single-device ``Trainer`` (no logger, checkpoints or progress bar, outputs in a
temporary folder, autotune off), so ``condense_dm(train, ipc, n, seed=s)`` is a
``train_synthetic.py`` DM run of ``n`` steps with ``seed_everything(s)``, image for image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence

import lightning as L
import torch

from dcl.data.images import ClassImages
from dcl.data.module import RealDataModule
from dcl.data.synthetic import SyntheticSet
from dcl.synthesis.module import SynthesisModule


def on_device(images: ClassImages, device: torch.device | str) -> ClassImages:
    """``images`` itself when already on ``device``, else a copy there (the source is unchanged).

    Copies are built from CPU tensors, so their host-side bookkeeping stays on the CPU.
    """
    device = torch.device(device)
    here = images.device
    if here.type == device.type and device.index in (None, here.index):
        return images
    return ClassImages(images.images.cpu(), images.labels.cpu(), images.info).to(device)


def class_subset(images: ClassImages, classes: Sequence[int], relabel: bool = True) -> ClassImages:
    """The images of ``classes`` only, as a new ``ClassImages`` on the same device.

    Args:
        images: A split of a dataset.
        classes: Global class ids to keep (distinct).
        relabel: ``True``: labels become ``0..k-1`` in the order of ``classes`` and the info
            describes ``k`` classes (their names, the dataset's name, shape and normalisation),
            so condensation and baselines see an ordinary ``k``-class dataset. ``False``: global
            labels and the full dataset info are kept (testing a network whose head covers
            every class).

    Returns:
        The subset view (pixels are copied, the source is not modified).
    """
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes}")
    images.check_per_class(1, "images", classes=torch.tensor(classes, dtype=torch.long))
    index = torch.cat([images.class_indices(c) for c in classes])
    info = images.info
    if relabel:
        counts = torch.stack([images.counts[c] for c in classes]).to(index.device)
        labels = torch.arange(len(classes), device=index.device).repeat_interleave(counts)
        names = tuple(info.class_names[c] if c < len(info.class_names) else str(c) for c in classes)
        info = dataclasses.replace(info, num_classes=len(classes), class_names=names)
    else:
        labels = images.labels[index]
    subset = ClassImages(images.images[index].cpu(), labels.cpu(), info)
    return subset.to(images.device)


def condense_dm(
    train: ClassImages,
    ipc: int,
    iterations: int,
    *,
    batch_real: int = 256,
    lr_img: float = 1.0,
    momentum_img: float = 0.5,
    backbone: str = "ConvNet",
    dsa_strategy: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> SyntheticSet:
    """Distribution matching on every class of ``train`` (published settings by default).

    Args:
        train: Real training images (e.g. a ``class_subset``); not modified.
        ipc: Synthetic images per class, initialised from random real images.
        iterations: Image updates (20,000 published).
        batch_real: Real images per class per update (capped at the smallest class).
        lr_img: SGD learning rate of the images.
        momentum_img: SGD momentum of the images.
        backbone: Randomly initialised embedding network, fresh at each update.
        dsa_strategy: Siamese DSA ops; ``auto`` = the published strategy for the dataset,
            ``none`` = no augmentation.
        seed: Seed of every random draw (derived per update with ``dcl.seeding.step_seed``).
        device: Where the images and networks live.

    Returns:
        The condensed set (labels ``0..k-1`` of ``train``); ``config["condense_time_s"]`` holds
        the wall time.
    """
    start = time.perf_counter()
    device = torch.device(device)
    info = train.info
    batch_real = min(batch_real, int(train.counts.min()))
    train.check_per_class(ipc, "synthetic images per class (ipc, init real)")
    pixels, labels = train.images.cpu(), train.labels.cpu()
    data = RealDataModule.from_tensors(
        pixels, labels, test=(pixels, labels), mean=info.mean, std=info.std,
        class_names=info.class_names, name=info.name,
    )  # fmt: skip
    settings = dict(ipc=ipc, backbone=backbone, batch_real=batch_real, lr_img=lr_img)
    settings.update(momentum_img=momentum_img, dsa_strategy=dsa_strategy, seed=seed)
    model = SynthesisModule(
        info, method="dm", autotune=False, image_log_every_n_steps=0, **settings
    )
    with tempfile.TemporaryDirectory() as out, _quiet():
        trainer = L.Trainer(
            max_steps=iterations, accelerator=device.type, devices=_devices(device),
            default_root_dir=out, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        trainer.fit(model, data)
    syn = model.synthetic_set()
    syn.config["condense_time_s"] = time.perf_counter() - start
    return syn


def _devices(device: torch.device) -> list[int] | int:
    return 1 if device.index is None else [device.index]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Lightning's start-up lines and the module's "Synthetic set:" line, silenced.

    A library call that condenses many times (one per continual-learning step) prints nothing.
    """
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
