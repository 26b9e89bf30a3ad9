"""Teachers: networks trained on the full training split whose logits relabel a set as soft labels.

A teacher is trained once per (dataset, architecture, seed, epochs) through the one training loop
(``dcl.baselines.features.train_feature_extractor``: SGD, momentum 0.9, weight decay 5e-4, the
learning rate x0.1 after half the epochs, no augmentation) and cached as an extractor file, so
later evaluations, coreset baselines and DD-Ranking's scores reuse it. Relabelling is static, as
DD-Ranking's default soft-label mode ``S``: the teacher's logits of the set's images, computed
once before training, are the soft labels of every epoch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from dcl.baselines.features import load_extractor, save_extractor, train_feature_extractor
from dcl.data.cache import checksum, default_cache_dir
from dcl.data.images import ClassImages

# Epochs of a freshly trained teacher (``--teacher_epochs``).
TEACHER_EPOCHS = 30
# Images per teacher forward when relabelling or testing.
TEACHER_BATCH = 1024


def teacher_file(
    train: ClassImages, network: str, seed: int, epochs: int, cache_dir: str | Path | None = None
) -> Path:
    """The cache file of a teacher: named by dataset, training data, network, seed and epochs.

    The CRC of the training images and labels names the data (two roots of one dataset with
    other files get two teachers); a ZCA-whitened split trains on whitened pixels, so its fit's
    checksum is part of the name too.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    data = f"{checksum(train.images.cpu(), train.labels.cpu()):08x}"
    fit = getattr(train, "zca", None)
    if fit is not None:
        data += f"-zca{fit.checksum:08x}"
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in network)
    return root / "teachers" / f"{train.info.name}-{data}-{safe}-seed{seed}-e{epochs}.pt"


def find_teacher(
    train: ClassImages,
    network: str,
    *,
    seed: int = 0,
    epochs: int = TEACHER_EPOCHS,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    verbose: bool = False,
) -> tuple[nn.Module, Path]:
    """A teacher of ``network`` on ``train``: read from ``path`` (or the cache), else trained there.

    Args:
        train: The full real training split.
        network: Architecture of a teacher to train (a file's own architecture wins).
        seed: Seeds a new teacher's weights and shuffling.
        epochs: Epochs of a new teacher.
        path: Teacher file (trained and written there when missing); ``None``: ``teacher_file``.
        cache_dir: Cache folder of ``teacher_file``.
        device: Where the teacher runs.
        verbose: Say that a teacher is trained, with a progress bar.

    Returns:
        The teacher in eval mode on ``device``, and its file.
    """
    path = Path(path) if path is not None else teacher_file(train, network, seed, epochs, cache_dir)
    if path.is_file():
        return load_teacher(path, train, device), path
    if verbose:
        print(f"No teacher at '{path}': training {network} on {train.info.name} ({epochs} epochs).")
    net, _ = train_feature_extractor(
        train, backbone=network, epochs=epochs, seed=seed, device=device, verbose=verbose,
        purpose="teacher",
    )  # fmt: skip
    save_extractor(net, path, backbone=network, dataset=train.info.name, epochs=epochs, seed=seed)
    return net.eval(), path


def load_teacher(path: str | Path, train: ClassImages, device: torch.device | str) -> nn.Module:
    """The teacher saved at ``path`` (its own architecture), checked against ``train``."""
    try:
        backbone = torch.load(path, map_location="cpu", weights_only=True)["backbone"]
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"'{path}' is not a readable dcl teacher (extractor) file: {err}") from err
    net, _ = load_extractor(path, train, backbone=str(backbone), device=device)
    return net


@torch.inference_mode()
def teacher_logits(teacher: nn.Module, images: Tensor, batch: int = TEACHER_BATCH) -> Tensor:
    """``(N, K)`` float32 CPU logits of normalised (or whitened) ``images``: soft labels."""
    device = next(teacher.parameters()).device
    teacher.eval()
    chunks = [
        teacher(images[s : s + batch].to(device)).float().cpu()
        for s in range(0, len(images), batch)
    ]
    return torch.cat(chunks)


@torch.inference_mode()
def accuracy_of(net: nn.Module, test: ClassImages, batch: int = TEACHER_BATCH) -> float:
    """Top-1 accuracy (%) of ``net`` on every image of ``test`` (normalised, or whitened)."""
    device = next(net.parameters()).device
    net.eval()
    correct = 0
    for s in range(0, len(test), batch):
        x = test.normalize(test.images[s : s + batch].to(device))
        correct += int((net(x).argmax(1).cpu() == test.labels[s : s + batch].cpu()).sum())
    return 100.0 * correct / max(len(test), 1)
