"""The published evaluation protocol: train fresh networks on a set, test on the real test set."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from dcl.augmentation import DSA, dc_augment, default_dsa_strategy
from dcl.calls import Forward, evaluation_forwards, logits
from dcl.data.images import ClassImages
from dcl.data.registry import DatasetInfo
from dcl.data.splits import check_whitening
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.learning_rate import LrOption, resolve_lr
from dcl.evaluation.progress import EvaluationProgress
from dcl.evaluation.recipe import (
    AUGMENTS,
    drop_learning_rate,
    lr_drop_epoch,
    recipes,
    resolve_augment,
)
from dcl.evaluation.summary import summarize
from dcl.networks import build_network, is_class_path
from dcl.seeding import AUGMENT, NETWORK, generator, step_seed
from dcl.training import train_epochs

if TYPE_CHECKING:
    from dcl.evaluation.autotune import EvaluationPath

# Test images per forward: large batches run fastest, and 2048 keeps a ConvNet's activations of
# a 32x32 batch near 1 GiB.
TEST_BATCH = 2048

__all__ = ["AUGMENTS", "EvaluationModule", "resolve_augment", "run_protocol", "summarize"]


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

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy on an augmented batch."""
        x, y = batch
        x = x if self.augment is None else self.augment(x)
        loss = F.cross_entropy(self(x), y)
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
            labels: ``(N,)`` class labels.
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


def run_protocol(
    syn: SyntheticSet,
    test: ClassImages,
    models: list[str],
    num_models: int = 3,
    epochs: int | None = None,
    augment: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    ensemble: bool | None = None,
    compile: bool | None = None,
    method: str | None = None,
    shard: tuple[int, int] = (0, 1),
    channels_last: bool | None = None,
    autotune: bool = True,
    broadcast: Callable[[Any], Any] | None = None,
    paths: Mapping[str, EvaluationPath] | None = None,
    lr: LrOption = None,
) -> dict[str, list[float]]:
    """Train ``num_models`` fresh networks per architecture on ``syn``; test accuracies in %.

    Each architecture trains with the release's recipe (``recipes``): augmentation, DSA
    strategy and epochs follow the method, dataset and network unless ``augment``/``epochs``
    override them; ``method`` trains a baseline like the set it is compared with.
    Models differ only by seed (``seed + i``). How they compute is a path per architecture
    (``dcl.evaluation.autotune``): through ``torch.compile`` (on CPU: needs a C++ compiler),
    on channels-last tensors, or with ``ensemble`` all together in one ``vmap``-ed pass (not
    batch-norm networks or class paths); the same maths, up to float rounding. Options left
    ``None`` are chosen by a short probe of throwaway networks (cached per machine and shape;
    one line each is printed with ``progress``), or with ``autotune=False`` take the defaults:
    plain, and the ensemble on CUDA only. No Trainer is created, so this is safe to call from
    inside a running Trainer (callbacks). ``shard=(rank, world_size)`` trains only models ``i``
    with ``i % world_size == rank`` (the others' accuracies are NaN): ranks share the work and
    ``gather_results`` joins the shares into what one process computes, since each model
    depends on its own seed only; rank 0 chooses the paths and ``broadcast`` shares them. A
    ZCA-whitened set (``syn.zca``) needs ``test`` whitened with the same fit.

    Args:
        syn: The set to train on (a condensed set or a baseline selection).
        test: Real test images, tested on every trained network.
        models: Network names or class paths (``dcl.evaluation.pools.expand_models``).
        num_models: Fresh networks per architecture.
        epochs: Training epochs; ``None``: the release's per-network recipe.
        augment: ``auto`` (the recipe), ``none``, ``dsa`` or ``dc``.
        seed: Model ``i`` draws everything from ``seed + i``.
        device: Where the networks train.
        progress: Show a progress bar.
        ensemble: Train an architecture's networks together (``None``: decided).
        compile: Train and test through ``torch.compile``'d forwards (``None``: decided).
        method: Train as for this method's sets (default: ``syn.method``).
        shard: ``(rank, world_size)``: train only this rank's models.
        channels_last: Train and test on channels-last tensors (``None``: decided).
        autotune: Decide the ``None`` options by a probe; else the defaults.
        broadcast: Rank 0's decision to every rank (a Fabric's or strategy's ``broadcast``).
        paths: Paths already chosen (``choose_paths``), instead of the options and probe.
        lr: SGD learning rate; ``None``/``auto``: the set's learned one, else 0.01 published.

    Returns:
        Test accuracies in % per architecture, one per model (NaN for other ranks' models).
    """
    from dcl.evaluation.autotune import choose_paths  # it imports this module

    check_whitening(syn, test)
    rate = resolve_lr(lr, syn)[0]
    if paths is None:
        tuned = dict(compile=compile, channels_last=channels_last, ensemble=ensemble)
        paths = choose_paths(
            syn, models, num_models, epochs, augment, device, method, **tuned,
            autotune=autotune, shard=shard, broadcast=broadcast, progress=progress,
        )  # fmt: skip
    plan = recipes(syn, models, augment, epochs, method)
    images, labels = syn.images.to(device), syn.labels.to(device)
    rank, world_size = shard
    mine = [i for i in range(num_models) if i % world_size == rank]
    results: dict[str, list[float]] = {}
    bars = EvaluationProgress(len(models) * len(mine), progress)
    for name in models:
        r = plan[name]
        settings = {"augment": r.augment, "dsa_strategy": r.dsa_strategy, "lr": rate}
        settings["batch_size"] = r.batch_size
        modules = [
            EvaluationModule(name, syn.info, r.epochs, seed=seed + i, **settings).to(device)
            for i in mine
        ]
        results[name] = [math.nan] * num_models
        tested = _train_and_test(name, modules, paths[name], images, labels, test, bars)
        for i, accuracy in zip(mine, tested, strict=True):
            results[name][i] = accuracy
    bars.close()
    return results


def _train_and_test(
    name: str,
    modules: list[EvaluationModule],
    path: EvaluationPath,
    images: Tensor,
    labels: Tensor,
    test: ClassImages,
    bars: EvaluationProgress,
) -> Iterator[float]:
    """Train ``modules`` on ``path`` and yield each one's test accuracy (%) as it is tested."""
    from dcl.evaluation.autotune import recheck_pace  # it imports this module
    from dcl.evaluation.ensemble import can_ensemble, train_ensemble

    train, predict = evaluation_forwards(path.compile, path.channels_last)
    steps_per_epoch = math.ceil(len(images) / modules[0].hparams.batch_size)
    epochs = modules[0].hparams.epochs + 1

    def tested(module: EvaluationModule) -> float:
        accuracy = 100.0 * module.test_images(test, forward=predict, pad=path.compile)
        bars.tested(name, accuracy)
        return accuracy

    # Users' networks train one by one: their layers (dropout, state) are not vetted for vmap.
    batched = path.ensemble and len(modules) > 1 and not is_class_path(name)
    if batched and can_ensemble(modules[0]):
        with bars.training(f"{name} x{len(modules)}", epochs) as epoch_done:
            train_ensemble(modules, images, labels, epoch_done)
        yield from map(tested, modules)
        return
    for k, module in enumerate(modules):
        with bars.training(f"{name} {k + 1}/{len(modules)}", epochs) as epoch_done:
            module.fit_tensors(images, labels, train, epoch_done)
        if k == 0:  # a cached choice that this run finds far slower is probed anew
            recheck_pace(path, bars.epoch_seconds(), steps_per_epoch, len(modules))
        yield tested(module)
