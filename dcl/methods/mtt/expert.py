"""``ExpertTraining``: one expert network trained on the real set, its parameters kept per epoch.

The release's ``buffer.py`` (MTT, Cazenavette et al., CVPR 2022): SGD (lr 0.01, no momentum, no
weight decay), batch 256, per-batch DSA with the full strategy, epochs over the whole real
training set, the flat parameters recorded at the start and after every epoch; optionally
(``decay``) the learning rate x0.1 after epoch ``E // 2 + 1``.

Every random draw derives from the expert's own seed (``expert_seed(seed, expert)``), so expert
``i`` is the same whichever run, process or device trains it, and whether or not its training
was interrupted (each epoch reseeds its order and augmentation):

* initial weights: ``step_seed(expert_seed, 0, 0, NETWORK)``,
* epoch ``e``'s order (a permutation of the training set): ``step_seed(expert_seed, 0, e, REAL)``,
* epoch ``e``'s DSA draws, batch after batch: ``step_seed(expert_seed, 0, e, AUGMENT)``.

All generators live on the CPU (draws do not depend on the device).

Optimisation is automatic: one optimiser, one loss per batch, nothing between backward and step,
which is exactly what Lightning's automatic optimisation does. ``training_step`` returns the
loss, so the module trains under a ``Trainer`` (``attach`` the images first; each epoch's batches
come from ``train_dataloader``) and, without one, in ``fit_tensors``: the Trainer-free loop that
``train_experts`` runs on every rank, which also resumes from a saved epoch. Both give the same
trajectory.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from dcl.augmentation import DSA, DSA_STRATEGY_FULL
from dcl.data.registry import DatasetInfo
from dcl.networks import build_network
from dcl.networks.flat import flatten_parameters
from dcl.seeding import AUGMENT, NETWORK, REAL, generator, step_seed
from dcl.training import drop_learning_rate, lr_drop_epoch

AUGMENTS: tuple[str, ...] = ("dsa", "none")


def expert_seed(seed: int, expert: int) -> int:
    """The seed of expert ``expert`` of a run seeded ``seed``: all its draws derive from it."""
    return step_seed(seed, expert, 0, 0)


class _EpochBatches(IterableDataset):
    """The current epoch's batches of indices (under a ``Trainer``): reseeded on every ``iter``."""

    def __init__(self, module: ExpertTraining) -> None:
        self.module = module

    def __iter__(self) -> Iterator[Tensor]:
        return iter(self.module.epoch_batches(self.module.current_epoch))


class ExpertTraining(L.LightningModule):
    """Train one expert network on real images; ``trajectory()`` is its parameters per epoch.

    Args:
        network: Network name from ``dcl.networks`` (or a class path).
        info: The real dataset's facts (shape and classes).
        expert: This expert's index in its buffer.
        seed: The run's base seed (the expert's own seed derives from it and ``expert``).
        epochs: Passes over the training set (the trajectory has ``epochs + 1`` rows).
        lr: SGD learning rate (0.01 published).
        momentum: SGD momentum (0 published).
        weight_decay: SGD weight decay (0 published).
        batch_size: Images per step (256 published; the last batch of an epoch may be smaller).
        augment: ``dsa`` (published: DSA per batch, one op per batch, parameters per image) or
            ``none``.
        dsa_strategy: DSA ops joined by ``_`` (published: all six, for every dataset).
        decay: The release's optional ``--decay``: lr x0.1 after epoch ``epochs // 2 + 1``.

    Raises:
        ValueError: For a setting out of range (the message says which).
    """

    def __init__(
        self,
        network: str,
        info: DatasetInfo,
        expert: int = 0,
        seed: int = 0,
        epochs: int = 50,
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        batch_size: int = 256,
        augment: str = "dsa",
        dsa_strategy: str = DSA_STRATEGY_FULL,
        decay: bool = False,
    ) -> None:
        super().__init__()
        check_settings(epochs, lr, momentum, weight_decay, batch_size, augment, expert)
        self.save_hyperparameters(ignore=["info"])
        self.info = info
        self.expert_seed = expert_seed(seed, expert)
        init = generator(step_seed(self.expert_seed, 0, 0, NETWORK))
        self.net = build_network(
            network, info.channels, info.num_classes, info.image_size, generator=init
        )
        self.dsa = DSA(dsa_strategy) if augment == "dsa" else None
        self.augment_generator = generator(step_seed(self.expert_seed, 0, 0, AUGMENT))
        self.images: Tensor | None = None
        self.labels: Tensor | None = None
        self.recorded: list[Tensor] = []

    def attach(self, images: Tensor, labels: Tensor) -> ExpertTraining:
        """Give the training set: normalised float images ``(N, C, H, W)`` and labels ``(N,)``."""
        if images.ndim != 4 or labels.shape != (images.shape[0],) or images.shape[0] == 0:
            raise ValueError(
                f"expected images (N, C, H, W) and labels (N,), got {tuple(images.shape)} and "
                f"{tuple(labels.shape)}."
            )
        self.images, self.labels = images.detach(), labels.long()
        return self

    def flat_parameters(self) -> Tensor:
        """The parameters now, flattened in ``named_parameters()`` order: float32 ``(P,)``, CPU."""
        return flatten_parameters(self.net).to("cpu", torch.float32)

    def trajectory(self) -> Tensor:
        """The recorded parameters, float32 ``(epochs done + 1, P)``; row 0 the initialisation."""
        return torch.stack(self.recorded)

    def epoch_batches(self, epoch: int) -> list[Tensor]:
        """Epoch ``epoch``'s batches of indices (a seeded permutation of the training set)."""
        if self.labels is None:
            raise RuntimeError("attach(images, labels) before training.")
        order = torch.randperm(
            len(self.labels), generator=generator(step_seed(self.expert_seed, 0, epoch, REAL))
        )
        return list(order.split(self.hparams.batch_size))

    def begin_epoch(self, epoch: int) -> None:
        """Reseed the augmentation for epoch ``epoch``."""
        self.augment_generator.manual_seed(step_seed(self.expert_seed, 0, epoch, AUGMENT))

    def end_epoch(self, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        """Record the parameters after epoch ``epoch``; the optional learning-rate drop."""
        self.recorded.append(self.flat_parameters())
        if self.hparams.decay and epoch == lr_drop_epoch(self.hparams.epochs):
            drop_learning_rate(optimizer)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of normalised images."""
        return self.net(x)

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        """Cross-entropy on the (augmented) images of one batch of indices."""
        idx = batch.to(self.images.device)
        x = self.images[idx]
        if self.dsa is not None:
            x = self.dsa.per_image(x, self.augment_generator)
        loss = F.cross_entropy(self.net(x), self.labels[idx])
        if self._trainer is not None:
            self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD with the expert's learning rate, momentum and weight decay."""
        hp = self.hparams
        return torch.optim.SGD(
            self.net.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )

    # Under a Trainer (``max_epochs=epochs``): the same steps through Lightning's hooks.
    def train_dataloader(self) -> DataLoader:
        """The epochs' batches of indices (``attach`` the images first)."""
        return DataLoader(_EpochBatches(self), batch_size=None)

    def on_fit_start(self) -> None:
        """Move the attached images to the module's device."""
        if self.images is None:
            raise RuntimeError("attach(images, labels) before trainer.fit(module).")
        self.attach(self.images.to(self.device), self.labels.to(self.device))

    def on_train_start(self) -> None:
        """Record the initialisation (row 0)."""
        self.recorded = [self.flat_parameters()]

    def on_train_epoch_start(self) -> None:
        """Reseed the epoch's augmentation."""
        self.begin_epoch(self.current_epoch)

    def on_train_epoch_end(self) -> None:
        """Record the epoch's parameters."""
        self.end_epoch(self.current_epoch, self.optimizers().optimizer)

    # Without a Trainer: what ``train_experts`` runs.
    def fit_tensors(
        self,
        images: Tensor,
        labels: Tensor,
        resume: dict[str, Any] | None = None,
        after_epoch: Callable[[ExpertTraining, torch.optim.Optimizer], None] | None = None,
    ) -> Tensor:
        """Train all epochs (or those after ``resume``) and return the whole trajectory.

        Args:
            images: Normalised training images ``(N, C, H, W)`` on the module's device.
            labels: Their labels ``(N,)``.
            resume: A ``partial_state`` saved after some epoch: continue from there.
            after_epoch: Called after each epoch (e.g. to save ``partial_state``).

        Returns:
            float32 ``(epochs + 1, P)`` on the CPU.
        """
        self.attach(images, labels)
        optimizer = self.configure_optimizers()
        start = 0
        if resume is None:
            self.recorded = [self.flat_parameters()]
        else:
            self.net.load_state_dict(resume["net"])
            optimizer.load_state_dict(resume["optimizer"])
            self.recorded = list(resume["trajectory"].unbind(0))
            start = int(resume["epoch"])
        self.net.train()
        for epoch in range(start, self.hparams.epochs):
            self.begin_epoch(epoch)
            for i, idx in enumerate(self.epoch_batches(epoch)):
                loss = self.training_step(idx, i)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            self.end_epoch(epoch, optimizer)
            if after_epoch is not None:
                after_epoch(self, optimizer)
        return self.trajectory()

    def partial_state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """What resuming after the last finished epoch needs (``fit_tensors(resume=...)``)."""
        return {
            "expert": self.hparams.expert,
            "seed": self.expert_seed,
            "epoch": len(self.recorded) - 1,
            "trajectory": self.trajectory(),
            "net": {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()},
            "optimizer": copy.deepcopy(optimizer.state_dict()),
        }


def check_settings(
    epochs: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch_size: int,
    augment: str,
    expert: int = 0,
) -> None:
    """Raise ``ValueError`` naming the first expert-training setting out of range."""
    problems = [
        (epochs < 1, f"epochs must be at least 1, got {epochs}"),
        (batch_size < 1, f"batch_size must be at least 1, got {batch_size}"),
        (not lr > 0, f"lr must be positive, got {lr}"),
        (not momentum >= 0, f"momentum must be >= 0, got {momentum}"),
        (not weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}"),
        (augment not in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}"),
        (expert < 0, f"expert indices start at 0, got {expert}"),
    ]
    for bad, message in problems:
        if bad:
            raise ValueError(f"{message}.")
