"""A freshly initialised network trained on a set and tested on real data: one evaluation model."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from dcl.augmentation import DSA, dc_augment, default_dsa_strategy
from dcl.calls import Forward, logits
from dcl.data.images import ClassImages
from dcl.data.registry import DatasetInfo
from dcl.networks import build_network
from dcl.objectives import DEFAULT_TEMPERATURE, classification_loss
from dcl.seeding import AUGMENT, NETWORK, generator, step_seed
from dcl.training import drop_learning_rate, lr_drop_epoch, train_epochs

# Test images per forward: large batches run fastest, and 2048 keeps a ConvNet's activations of
# a 32x32 batch near 1 GiB.
TEST_BATCH = 2048


class EvaluationModule(L.LightningModule):
    """A freshly initialised network trained on a (synthetic) set and tested on real data.

    Works under a ``Trainer`` (``training_step``/``test_step``; give it ``max_epochs=epochs+1``)
    and under the plain, Trainer-free loop of ``run_protocol`` that the CLI and callbacks use,
    with the same optimiser and steps.

    The schedule is the release's ``evaluate_synset``: epochs 0..E (E + 1 passes); after epoch
    ``E // 2 + 1`` the learning rate drops x0.1 through a fresh SGD, so momentum restarts.

    Args:
        network: Network name from ``dcl.networks``.
        info: Dataset facts (shape, classes, normalisation).
        epochs: The release's E: trains epochs 0..E.
        lr: SGD learning rate (0.01 published; ``run_protocol`` passes a set's learned one).
        momentum: SGD momentum (0.9 published).
        weight_decay: SGD weight decay (5e-4 published).
        batch_size: Training batch size (256 published).
        augment: ``dsa`` (per-image DSA), ``dc`` (DC's MNIST augmentation), ``crop_noise`` (DC's
            recipe for batch-norm networks) or ``none``.
        seed: Seeds the network's initialisation and the augmentation.
        dsa_strategy: DSA ops for ``augment="dsa"`` (default: the dataset's published strategy);
            pass the strategy the set was synthesised with.
        temperature: Softmax temperature of soft labels (``(N, K)`` float targets train with
            ``dcl.objectives.soft_label_loss``; integer labels with cross-entropy).
    """

    def __init__(
        self,
        network: str,
        info: DatasetInfo,
        epochs: int = 300,
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        batch_size: int = 256,
        augment: str = "none",
        seed: int = 0,
        dsa_strategy: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["info"])
        self.info = info
        init = generator(step_seed(seed, 0, 0, NETWORK))
        self.net = build_network(
            network, info.channels, info.num_classes, info.image_size, generator=init
        )
        self.generator = generator(step_seed(seed, 0, 0, AUGMENT))
        self.dsa: DSA | None = None  # set for augment="dsa"
        self.augment = self._augmentation(augment)
        self.test_accuracy = MulticlassAccuracy(info.num_classes, average="micro")
        # The Trainer-free test is this process's own: in a distributed run each rank tests its
        # own models, so a synchronising compute() would mix them (and wait on the others).
        self.local_accuracy = MulticlassAccuracy(
            info.num_classes, average="micro", sync_on_compute=False
        )
        self.register_buffer("mean", torch.tensor(info.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info.std).view(1, -1, 1, 1), persistent=False)

    def _augmentation(self, augment: str) -> Callable[[Tensor], Tensor] | None:
        if augment == "dsa":
            self.dsa = DSA(self.hparams.dsa_strategy or default_dsa_strategy(self.info.name))
            return lambda x: self.dsa.per_image(x, self.generator)
        if augment == "dc":
            return lambda x: dc_augment(x, self.generator)
        if augment == "crop_noise":
            return lambda x: dc_augment(x, self.generator, strategy="crop_noise")
        if augment != "none":
            raise ValueError(f"Unknown augment '{augment}'; choose dsa, dc, crop_noise or none.")
        return None

    def forward(self, x: Tensor) -> Tensor:
        """Logits of normalised images; uint8 images are normalised first."""
        return self.net(self._normalized(x))

    def _normalized(self, x: Tensor) -> Tensor:
        return (x.float() / 255 - self.mean) / self.std if x.dtype == torch.uint8 else x

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy on hard labels, the soft-label KL at ``temperature`` on soft ones.

        Args:
            logits: ``(B, K)`` the network's logits.
            targets: ``(B,)`` class labels, or ``(B, K)`` soft labels (logits).

        Returns:
            The scalar loss.
        """
        return classification_loss(logits, targets, self.hparams.temperature)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """``criterion`` on an augmented batch."""
        x, y = batch
        x = x if self.augment is None else self.augment(x)
        loss = self.criterion(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD(lr, momentum, weight decay); the drop happens in ``end_of_epoch``."""
        hp = self.hparams
        return torch.optim.SGD(
            self.net.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )

    def end_of_epoch(self, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        """After epoch ``E // 2 + 1``: learning rate x0.1 and momentum restarted.

        Args:
            epoch: The epoch that just ended (0-based).
            optimizer: The network's optimiser.
        """
        if epoch == lr_drop_epoch(self.hparams.epochs):
            drop_learning_rate(optimizer)

    def on_train_epoch_end(self) -> None:
        """The release's learning-rate drop under a Trainer."""
        self.end_of_epoch(self.current_epoch, self.optimizers().optimizer)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Accumulate top-1 accuracy."""
        x, y = batch
        self.test_accuracy.update(self(x).argmax(1), y)
        self.log("test_accuracy", self.test_accuracy, on_epoch=True)

    def fit_tensors(
        self,
        images: Tensor,
        labels: Tensor,
        forward: Forward = logits,
        epoch_done: Callable[[int], None] | None = None,
    ) -> float:
        """Train without a Trainer on in-memory images (the release's loop and schedule).

        Args:
            images: ``(N, C, H, W)`` normalised training images.
            labels: ``(N,)`` class labels, or ``(N, K)`` soft labels (logits).
            forward: ``(net, x) -> logits``, e.g. a compiled call.
            epoch_done: Called with each finished epoch's index (progress, timing).

        Returns:
            The last training loss.
        """
        optimizer = self.configure_optimizers()

        def end(epoch: int) -> None:
            self.end_of_epoch(epoch, optimizer)
            if epoch_done is not None:
                epoch_done(epoch)

        return train_epochs(
            self.net,
            optimizer,
            images.to(self.device),
            labels.to(self.device),
            self.hparams.epochs + 1,
            self.hparams.batch_size,
            self.generator,
            self.augment,
            end,
            forward,
            criterion=self.criterion,
        )

    @torch.inference_mode()
    def test_images(
        self,
        test: ClassImages,
        batch_size: int = TEST_BATCH,
        forward: Forward = logits,
        pad: bool = False,
    ) -> float:
        """Top-1 accuracy on every image of ``test``, without a Trainer.

        Args:
            test: Real test images (uint8, normalised, or whitened if ZCA-whitened, by batch).
            batch_size: Images per forward.
            forward: ``(net, x) -> logits``, e.g. a compiled call.
            pad: Pad a short last batch to ``batch_size`` (its extra rows are ignored), so a
                compiled call sees one shape. In eval mode every image's logits depend on that
                image alone, so padding changes no prediction.

        Returns:
            Accuracy in 0..1.
        """
        self.net.eval()
        self.local_accuracy.reset()
        for start in range(0, len(test), batch_size):
            x = test.images[start : start + batch_size].to(self.device)
            x = test.normalize(x) if hasattr(test, "zca") else self._normalized(x)
            y = test.labels[start : start + batch_size].to(self.device)
            short = batch_size - len(x) if pad and start > 0 else 0  # one batch: its own shape
            x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, short)) if short else x
            self.local_accuracy.update(forward(self.net, x)[: len(y)].argmax(1), y)
        return float(self.local_accuracy.compute())
