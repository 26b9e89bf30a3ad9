"""The work an evaluation probe times: one training step of throwaway networks on a path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from dcl.calls import evaluation_forwards
from dcl.evaluation.ensemble import Ensemble
from dcl.evaluation.module import EvaluationModule
from dcl.training import train_epochs

if TYPE_CHECKING:
    from dcl.evaluation.autotune import EvaluationPath


class ProbeStep:
    """One training step of throwaway networks on ``path``: what the probe times.

    Args:
        path: The path to time (``path.variant`` names it).
        modules: Throwaway modules: one, or the ensemble's networks.
        images: One batch of the set.
        labels: Its labels.
        count: The rank's networks: one step of all of them is ``repeat`` calls.
        batched: Train ``modules`` as an ensemble.
    """

    def __init__(
        self,
        path: EvaluationPath,
        modules: list[EvaluationModule],
        images: Tensor,
        labels: Tensor,
        count: int,
        batched: bool,
    ) -> None:
        self.path, self.repeat = path, 1 if batched else count
        if batched:
            ensemble = Ensemble(modules)
            self.step = lambda: ensemble.epoch(images, labels)
        else:
            # The run's own training call: a compiled probe leaves its graph for the run.
            module, forward = modules[0], evaluation_forwards(path.compile, path.channels_last)[0]
            opt = module.configure_optimizers()
            self.step = lambda: train_epochs(
                module.net, opt, images, labels, 1, len(images), module.generator, module.augment,
                forward=forward,
            )  # fmt: skip

    def __call__(self) -> None:
        """Train one step."""
        self.step()
