"""Train several fresh networks of one architecture at once (``vmap`` over stacked weights).

Each network keeps its own initialisation, shuffling and augmentation draws (its module's
generator, used in the same order as the sequential ``EvaluationModule.fit_tensors``), so the
ensemble computes what sequential training computes, up to float rounding, in one batched pass
per step.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from dcl.evaluation.protocol import EvaluationModule
from dcl.networks import has_batchnorm


def can_ensemble(module: EvaluationModule) -> bool:
    """Batch norm updates running statistics in place, which ``vmap`` cannot batch."""
    return not has_batchnorm(module.net)


def train_ensemble(modules: list[EvaluationModule], images: Tensor, labels: Tensor) -> None:
    """Train ``modules`` (same architecture and settings) together on ``images``/``labels``.

    The trained weights are written back into each module's network.
    """
    hp = modules[0].hparams
    nets = [m.net for m in modules]
    params, buffers = stack_module_state(nets)  # name -> (M, ...) leaves
    skeleton = copy.deepcopy(nets[0]).to("meta")  # structure only: weights come from ``params``

    def logits(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(skeleton, (p, b), (x,))

    forward = vmap(logits, randomness="different")
    opt = torch.optim.SGD(
        list(params.values()), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
    )
    n = images.shape[0]
    for epoch in range(hp.epochs + 1):  # the release's epochs 0..E
        orders = [
            torch.randperm(n, generator=m.generator, device=m.generator.device).to(images.device)
            for m in modules
        ]
        for start in range(0, n, hp.batch_size):
            batch = [order[start : start + hp.batch_size] for order in orders]
            xs = torch.stack(
                [_augmented(m, images[i]) for m, i in zip(modules, batch, strict=True)]
            )
            ys = torch.stack([labels[i] for i in batch])  # (M, B)
            out = forward(params, buffers, xs)  # (M, B, classes)
            per_model = F.cross_entropy(out.flatten(0, 1), ys.flatten(), reduction="none")
            loss = per_model.view(ys.shape).mean(1).sum()  # each model's mean loss; no coupling
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        modules[0].end_of_epoch(epoch, opt)  # the same drop and momentum restart
    with torch.no_grad():
        for i, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][i])


def _augmented(module: EvaluationModule, x: Tensor) -> Tensor:
    return x if module.augment is None else module.augment(x)
