"""Plain minibatch SGD epochs over an in-memory set, and the releases' learning-rate schedule.

Shared by DC's inner loop, evaluation and MTT's experts.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dcl.calls import Forward, logits

Augment = Callable[[Tensor], Tensor]
# ``(logits, targets) -> loss``: cross-entropy on hard labels, or a soft-label loss.
Criterion = Callable[[Tensor, Tensor], Tensor]
# The releases multiply the learning rate by 0.1 once, after epoch E // 2 (evaluate_synset).
LR_DROP = 0.1


def lr_drop_epoch(epochs: int) -> int:
    """The epoch after which the release multiplies the learning rate by 0.1: ``E // 2 + 1``."""
    return epochs // 2 + 1


def drop_learning_rate(optimizer: torch.optim.Optimizer) -> None:
    """Learning rate x0.1 and momentum restarted, as the release's freshly built SGD does."""
    for group in optimizer.param_groups:
        group["lr"] *= LR_DROP
    optimizer.state.clear()


def train_epochs(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    augment: Augment | None = None,
    epoch_end: Callable[[int], None] | None = None,
    forward: Forward = logits,
    backward: Callable[[Tensor], None] | None = None,
    batch_end: Callable[[int, Tensor, Tensor], None] | None = None,
    criterion: Criterion = F.cross_entropy,
) -> float:
    """Train ``net`` for ``epochs`` shuffled passes over ``(images, labels)`` with ``criterion``.

    The one minibatch loop of the library: DC's inner loop, evaluation networks (the ensemble is
    its batched form), NAS candidates and the baselines' feature extractor train through it.

    Args:
        net: Network in train mode.
        optimizer: Optimiser over ``net``'s parameters.
        images: ``(N, C, H, W)`` training images (no gradient is taken w.r.t. them).
        labels: ``(N,)`` labels, or ``(N, K)`` soft labels for a soft ``criterion``.
        epochs: Passes over the data.
        batch_size: Minibatch size.
        generator: Drives the shuffling (augmentations bring their own generators).
        augment: Optional per-batch transform (augmentation, or normalising stored pixels).
        epoch_end: Called with the epoch's index after each epoch (e.g. a learning-rate drop).
        forward: ``(net, x) -> logits``, e.g. a compiled call.
        backward: ``backward(loss)`` instead of ``loss.backward()`` (e.g. Fabric's, which scales
            float16 gradients).
        batch_end: Called with ``(epoch, indices, logits)`` after each optimiser step (e.g. to
            record which examples were classified correctly).
        criterion: ``(logits, labels[batch]) -> loss`` (default cross-entropy; e.g.
            ``dcl.objectives.classification_loss`` for soft labels).

    Returns:
        Mean loss of the last epoch.
    """
    net.train()
    images, n = images.detach(), images.shape[0]
    last = 0.0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator, device=generator.device).to(images.device)
        total = torch.zeros((), device=images.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x = images[idx] if augment is None else augment(images[idx])
            out = forward(net, x)
            loss = criterion(out, labels[idx])
            optimizer.zero_grad(set_to_none=True)
            if backward is None:
                loss.backward()
            else:
                backward(loss)
            optimizer.step()
            total += loss.detach() * len(idx)
            if batch_end is not None:
                batch_end(epoch, idx, out.detach())
        if epoch_end is not None:
            epoch_end(epoch)
        last = total
    return float(last) / max(n, 1)
