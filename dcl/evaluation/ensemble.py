"""Train several fresh networks of one architecture at once (``vmap`` over stacked weights).

Each network keeps its own initialisation, shuffling and augmentation draws (its module's
generator, used in the same order as the sequential ``EvaluationModule.fit_tensors``), so the
ensemble computes what sequential training computes, up to float rounding, in one batched pass
per step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from dcl.evaluation.module import EvaluationModule
from dcl.networks import has_batchnorm


def can_ensemble(module: EvaluationModule) -> bool:
    """Batch norm updates running statistics in place, which ``vmap`` cannot batch."""
    return not has_batchnorm(module.net)


class Ensemble:
    """The networks of ``modules`` as one ``vmap``-ed network over stacked weights, with its SGD.

    Args:
        modules: Evaluation modules of one architecture and the same settings.
    """

    def __init__(self, modules: list[EvaluationModule]) -> None:
        hp = modules[0].hparams
        self.modules = modules
        self.params, self.buffers = stack_module_state([m.net for m in modules])  # (M, ...) leaves
        skeleton = copy.deepcopy(modules[0].net).to("meta")  # structure only: weights are params

        def logits(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(skeleton, (p, b), (x,))

        self.forward = vmap(logits, randomness="different")
        self.optimizer = torch.optim.SGD(
            list(self.params.values()), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )

    def epoch(self, images: Tensor, labels: Tensor) -> None:
        """One shuffled pass over ``(images, labels)`` for every network, in batched steps."""
        n, batch_size = images.shape[0], self.modules[0].hparams.batch_size
        orders = [
            torch.randperm(n, generator=m.generator, device=m.generator.device).to(images.device)
            for m in self.modules
        ]
        for start in range(0, n, batch_size):
            batch = [order[start : start + batch_size] for order in orders]
            xs = torch.stack(
                [_augmented(m, images[i]) for m, i in zip(self.modules, batch, strict=True)]
            )
            ys = torch.stack([labels[i] for i in batch])  # (M, B), or (M, B, classes) soft
            out = self.forward(self.params, self.buffers, xs)  # (M, B, classes)
            if ys.is_floating_point():
                # Every model's batch has B rows, so M times the batch mean over all M * B rows
                # is the sum of each model's mean loss: no coupling.
                loss = self.modules[0].criterion(out.flatten(0, 1), ys.flatten(0, 1)) * len(xs)
            else:
                per_model = F.cross_entropy(out.flatten(0, 1), ys.flatten(), reduction="none")
                loss = per_model.view(ys.shape).mean(1).sum()  # each model's mean loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def write_back(self) -> None:
        """Copy the trained weights into each module's network."""
        with torch.no_grad():
            for i, module in enumerate(self.modules):
                for name, p in module.net.named_parameters():
                    p.copy_(self.params[name][i])


def train_ensemble(
    modules: list[EvaluationModule],
    images: Tensor,
    labels: Tensor,
    epoch_done: Callable[[int], None] | None = None,
) -> None:
    """Train ``modules`` (same architecture and settings) together on ``images``/``labels``.

    The trained weights are written back into each module's network.

    Args:
        modules: Evaluation modules of one architecture and the same settings.
        images: The training images.
        labels: Their labels.
        epoch_done: Called with each finished epoch's index (progress, timing).
    """
    ensemble = Ensemble(modules)
    for epoch in range(modules[0].hparams.epochs + 1):  # the release's epochs 0..E
        ensemble.epoch(images, labels)
        modules[0].end_of_epoch(epoch, ensemble.optimizer)  # the same drop and momentum restart
        if epoch_done is not None:
            epoch_done(epoch)
    ensemble.write_back()


def _augmented(module: EvaluationModule, x: Tensor) -> Tensor:
    return x if module.augment is None else module.augment(x)
