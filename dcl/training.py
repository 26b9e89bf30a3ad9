"""Plain minibatch SGD epochs over an in-memory set: shared by DC's inner loop and evaluation."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dcl.calls import Forward, logits

Augment = Callable[[Tensor], Tensor]


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
) -> float:
    """Train ``net`` for ``epochs`` shuffled passes over ``(images, labels)`` with cross-entropy.

    Args:
        net: Network in train mode.
        optimizer: Optimiser over ``net``'s parameters.
        images: ``(N, C, H, W)`` training images (no gradient is taken w.r.t. them).
        labels: ``(N,)`` labels.
        epochs: Passes over the data.
        batch_size: Minibatch size.
        generator: Drives the shuffling (augmentations bring their own generators).
        augment: Optional per-batch augmentation.
        epoch_end: Called with the epoch's index after each epoch (e.g. a learning-rate drop).
        forward: ``(net, x) -> logits``, e.g. a compiled call.

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
            loss = F.cross_entropy(forward(net, x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        if epoch_end is not None:
            epoch_end(epoch)
        last = total
    return float(last) / max(n, 1)
