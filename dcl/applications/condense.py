"""Class-subset views of real data and a Trainer-free DM loop to condense them.

Both applications condense small pieces of a dataset many times (continual learning: only the
classes of one step; NAS: a quick proxy set). ``condense_dm`` runs exactly the update of
``dcl.synthesis.methods.DM.loss`` (same objective ``dm_loss``, same seed streams for the
initialisation, the per-step network, the real batch and the siamese DSA draw, same SGD on the
images), so ``condense_dm(train, ipc, n, seed=s)`` reproduces a ``train_synthetic.py`` DM run of
``n`` steps with ``seed_everything(s)`` image for image (tested). A plain loop is used instead of a
Lightning ``Trainer`` because these runs are short, single-process and need no checkpoints, and
because it keeps all randomness in explicit generators (no global seed state between steps).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import torch

from dcl.augmentation import DSA, default_dsa_strategy
from dcl.data.images import ClassImages
from dcl.data.synthetic import SyntheticSet
from dcl.networks import build_network
from dcl.seeding import AUGMENT, INIT, NETWORK, REAL, generator, step_seed
from dcl.synthesis.matching import class_chunk_for, dm_loss


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
    real_images = on_device(train, device)
    info, k = train.info, train.info.num_classes
    batch_real = min(batch_real, int(real_images.counts.min()))
    real_images.check_per_class(ipc, "synthetic images per class (ipc, init real)")
    strategy = default_dsa_strategy(info.name) if dsa_strategy == "auto" else dsa_strategy
    dsa = None if strategy == "none" else DSA(strategy)
    init = real_images.sample(ipc, generator(step_seed(seed, 0, 0, INIT), device))
    images = init.flatten(0, 1).clone().requires_grad_(True)
    optimizer = torch.optim.SGD([images], lr=lr_img, momentum=momentum_img)
    for step in range(iterations):
        net = build_network(
            backbone,
            info.channels,
            k,
            info.image_size,
            generator=generator(step_seed(seed, 0, step, NETWORK), device),
            device=device,
        ).requires_grad_(False)
        real = real_images.sample(batch_real, generator(step_seed(seed, 0, step, REAL), device))
        augment = None
        if dsa is not None:
            params = dsa.sample(k, generator(step_seed(seed, 0, step, AUGMENT), device))
            augment = lambda r, s, p=params: (dsa.apply(r, p), dsa.apply(s, p))  # noqa: E731
        syn = images.view(k, ipc, *images.shape[1:])
        loss = dm_loss(net, real, syn, augment, class_chunk_for(net, device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"Non-finite DM loss at step {step}; lower lr_img.")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    config = {
        "batch_real": batch_real,
        "lr_img": lr_img,
        "momentum_img": momentum_img,
        "dsa_strategy": strategy,
        "condense_time_s": time.perf_counter() - start,
    }
    return SyntheticSet(
        images=images.detach().cpu().clone(),
        labels=torch.arange(k).repeat_interleave(ipc),
        info=info,
        ipc=ipc,
        method="dm",
        seed=seed,
        step=iterations,
        backbone=backbone,
        config=config,
    )
