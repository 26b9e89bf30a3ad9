"""The feature extractor of the herding / k-center / forgetting baselines.

A network (ConvNet by default) trained with cross-entropy on the full real training set; its
``embed(x)`` output (flattened features before the final Linear) is the feature space herding and
k-center select in, and its training run is where forgetting events are counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dcl.data.cache import save_atomic
from dcl.data.images import ClassImages
from dcl.fabric import FLOAT32_WEIGHTS, check_precision, is_rank_zero, single_device_fabric
from dcl.networks import build_network, embed
from dcl.seeding import NETWORK, REAL, generator, step_seed
from dcl.training import train_epochs

EXTRACTOR_FORMAT = "dcl-extractor-v1"


def on_device(train: ClassImages, device: torch.device | str) -> ClassImages:
    """``train`` itself if already on ``device``, else a copy there (the original is untouched)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if train.device == device:
        return train
    return ClassImages(train.images, train.labels, train.info).to(device)


def _network(backbone: str, train: ClassImages, device: torch.device | str, seed: int) -> nn.Module:
    info = train.info
    init = generator(step_seed(seed, 0, 0, NETWORK))
    return build_network(
        backbone, info.channels, info.num_classes, info.image_size, generator=init, device=device
    )


def train_feature_extractor(
    train: ClassImages,
    *,
    backbone: str = "ConvNet",
    epochs: int,
    batch_size: int = 256,
    lr: float = 0.01,
    seed: int = 0,
    device: torch.device | str = "cpu",
    precision: str = "32-true",
    track_forgetting: bool = False,
    verbose: bool = False,
    purpose: str = "feature extractor",
) -> tuple[nn.Module, Tensor | None]:
    """Train ``backbone`` on all of ``train`` with cross-entropy, optionally recording correctness.

    SGD (momentum 0.9, weight decay 5e-4), learning rate x0.1 once after half the epochs (the
    evaluation protocol's schedule), shuffled minibatches, no augmentation. The uint8 images stay
    on the device and are normalised per batch. With ``track_forgetting`` the correctness of every
    example is recorded from the minibatch forward pass that trains on it (as Toneva et al. do),
    once per epoch.

    The loop (``dcl.training.train_epochs``) runs under a one-device Lightning ``Fabric``: it
    places the network, data and optimiser on ``device`` and applies ``precision`` (autocast,
    and gradient scaling for ``16-mixed``); at ``32-true`` the steps are those of a plain
    PyTorch loop. Weights and shuffling come from generators seeded by ``seed``, so runs repeat
    exactly.

    Args:
        train: Real training images (any device; not modified).
        backbone: Network name (see ``dcl.networks.NETWORK_NAMES``) or the dotted class path of
            your own network; its features are those of ``dcl.networks.embed`` (its ``embed``
            method, else the input of its last ``nn.Linear``).
        epochs: Passes over the training set.
        batch_size: Minibatch size.
        lr: Initial learning rate.
        seed: Seeds the initial weights and the shuffling.
        device: Where to train (``cpu``, ``cuda``, ``cuda:N``, ``mps``).
        precision: ``32-true``, ``bf16-mixed`` or ``16-mixed`` (weights stay float32).
        track_forgetting: Record per-epoch correctness.
        verbose: Show a progress bar (on global rank 0). It advances per minibatch: one epoch
            of a CIFAR-sized split takes minutes on a CPU core, and a bar that moved only per
            epoch would look hung.
        purpose: What the network is for, named on the bar (``feature extractor``, ``teacher``).

    Returns:
        The trained network (eval mode) and, with ``track_forgetting``, an ``(epochs, N)`` bool
        CPU tensor: whether example ``j`` (index into ``train``) was classified correctly in epoch
        ``e``; otherwise ``None``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    check_precision(precision, FLOAT32_WEIGHTS, "the extractor's weights must stay float32")
    fabric = single_device_fabric(device, precision)
    data = on_device(train, fabric.device)
    net = _network(backbone, data, fabric.device, seed)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[max(epochs // 2, 1)], gamma=0.1)
    model, optimizer = fabric.setup(net, opt)  # wrap ``net`` and ``opt``, which get the updates
    shuffle = generator(step_seed(seed, 0, 0, REAL))
    n = len(data)
    record = (
        torch.zeros(epochs, n, dtype=torch.bool, device=data.device) if track_forgetting else None
    )
    bar = tqdm(
        total=epochs * -(-n // batch_size),
        desc=f"training {backbone} {purpose}",
        disable=not (verbose and is_rank_zero()),
        unit="batch",
    )

    def batch_end(epoch: int, idx: Tensor, logits: Tensor) -> None:
        if record is not None:
            record[epoch, idx] = logits.argmax(1) == data.labels[idx]
        bar.update(1)

    def end(epoch: int) -> None:
        sched.step()
        bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}")

    stored = data.images  # uint8 pixels, normalised batch by batch
    train_epochs(
        model, optimizer, stored, data.labels, epochs, batch_size, shuffle, augment=data.normalize,
        epoch_end=end, backward=fabric.backward, batch_end=batch_end,
    )  # fmt: skip
    bar.close()
    return net.eval(), None if record is None else record.cpu()


@torch.inference_mode()
def embed_all(net: nn.Module, train: ClassImages, batch: int = 1024) -> Tensor:
    """``(N, D)`` embeddings (``dcl.networks.embed``) of every image of ``train``, on its device.

    Batched over all images (not per class); the network is put in eval mode.
    """
    device = next(net.parameters()).device
    data = on_device(train, device)
    net.eval()
    chunks = [
        embed(net, data.normalize(data.images[s : s + batch])).flatten(1)
        for s in range(0, len(data), batch)
    ]
    return torch.cat(chunks).float()


def save_extractor(
    net: nn.Module,
    path: str | Path,
    *,
    backbone: str,
    dataset: str,
    epochs: int,
    seed: int = 0,
    forgetting: Tensor | None = None,
) -> Path:
    """Write a trained extractor (state dict and metadata) atomically; returns the path.

    Args:
        net: The trained network.
        path: Target file.
        backbone: Its network name.
        dataset: Registry name of the dataset it was trained on.
        epochs: Training epochs.
        seed: Training seed.
        forgetting: Optional ``(epochs, N)`` correctness record of its training run, so the
            forgetting baseline can be built from the file too.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    record = None if forgetting is None else forgetting.bool().cpu()
    meta = {"backbone": backbone, "dataset": dataset, "epochs": int(epochs), "seed": int(seed)}
    save_atomic(
        {"format": EXTRACTOR_FORMAT, "state_dict": state, "forgetting": record, **meta}, path
    )
    return path


def load_extractor(
    path: str | Path,
    train: ClassImages,
    *,
    backbone: str = "ConvNet",
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Load an extractor written by ``save_extractor`` and check it fits ``train`` and ``backbone``.

    Args:
        path: File written by ``save_extractor``.
        train: The training set it will embed (its dataset name and shape must match).
        backbone: Expected network name.
        device: Where to put the network.

    Returns:
        The network (eval mode) and the file's metadata (``backbone``, ``dataset``, ``epochs``,
        ``seed``, ``forgetting``: the correctness record or ``None``).

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        ValueError: If the file is not an extractor, or was trained with another backbone, on
            another dataset, or its weights do not fit the dataset's shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No feature extractor at '{path}'.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"'{path}' is not a readable dcl feature extractor: {err}") from err
    if not isinstance(data, dict) or data.get("format") != EXTRACTOR_FORMAT:
        raise ValueError(f"'{path}' is not a dcl feature extractor (format '{EXTRACTOR_FORMAT}').")
    problems = []
    if data["backbone"] != backbone:
        problems.append(f"it is a {data['backbone']}, expected {backbone}")
    if data["dataset"] != train.info.name:
        problems.append(f"it was trained on {data['dataset']}, not {train.info.name}")
    if problems:
        raise ValueError(f"Feature extractor '{path}' does not match: " + "; ".join(problems) + ".")
    net = _network(backbone, train, "cpu", 0)
    try:
        net.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"Feature extractor '{path}' does not fit {train.info.name}: {err}"
        ) from err
    meta = {k: data[k] for k in ("backbone", "dataset", "epochs", "seed", "forgetting")}
    return net.to(device).eval(), meta
