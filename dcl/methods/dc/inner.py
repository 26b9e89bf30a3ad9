"""DC/DSA's per-outer-iteration network: built fresh, trained between matching steps, resumable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dcl.calls import Forward, logits
from dcl.training import Augment, train_epochs


class InnerNetwork:
    """Holds the network of the current outer iteration and its SGD optimiser.

    A plain object, not an ``nn.Module`` attribute of the LightningModule: the network is not a
    parameter of synthesis (DDP must not synchronise it, checkpoints store it explicitly).

    Args:
        lr: Learning rate of the inner-loop SGD.
        momentum: Momentum of the inner-loop SGD (0.5 for DC, 0 for DSA as published).
    """

    def __init__(self, lr: float, momentum: float) -> None:
        self.lr, self.momentum = lr, momentum
        self.outer = -1
        self.net: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._pending: dict[str, Any] | None = None

    def get(self, outer: int, build: Callable[[int], nn.Module]) -> nn.Module:
        """The network of outer iteration ``outer``: ``build(outer)`` when the iteration changes."""
        if self.net is None or self.outer != outer:
            self.outer, self.net = outer, build(outer)
            self.optimizer = torch.optim.SGD(
                self.net.parameters(), lr=self.lr, momentum=self.momentum
            )
            if self._pending is not None and self._pending["outer"] == outer:
                self.net.load_state_dict(self._pending["net"])  # resumed mid outer iteration
                self.optimizer.load_state_dict(self._pending["optimizer"])
            self._pending = None
        return self.net

    def train(
        self,
        images: Tensor,
        labels: Tensor,
        epochs: int,
        batch_size: int,
        generator: torch.Generator,
        augment: Augment | None,
        forward: Forward = logits,
    ) -> None:
        """The inner loop: ``epochs`` of SGD on the detached set (``forward``: e.g. compiled)."""
        data = (images.detach(), labels, epochs, batch_size, generator, augment)
        train_epochs(self.net, self.optimizer, *data, forward=forward)

    def state_dict(self) -> dict[str, Any] | None:
        """Network and optimiser state for checkpoints (``None`` before the first step)."""
        if self.net is None:  # none built yet, or a restored state not yet applied
            return self._pending
        return {
            "outer": self.outer,
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore lazily: applied when ``get`` is next asked for the same outer iteration."""
        self.net, self.optimizer, self.outer, self._pending = None, None, -1, state
