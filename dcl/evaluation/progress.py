"""What an evaluation shows as it runs: a bar over the models, one over a long training's epochs.

At the published protocol one network can train for minutes (1,001 epochs with augmentation),
so a bar that moved only when every model had trained would look hung. The models bar advances as
each network is tested; the epochs bar of the training under way appears once that training has
lasted ``EPOCH_BAR_DELAY_S`` (short trainings show none). Networks trained together as one
``vmap``-ed ensemble share one epochs bar, since their epochs are the same steps.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

# A training that ends sooner than this shows no epochs bar: it would only flicker.
EPOCH_BAR_DELAY_S = 3.0


class EvaluationProgress:
    """Progress bars of ``run_protocol``, and the timing of each training's epochs.

    Args:
        total_models: Networks this process trains and tests (all architectures).
        enabled: Show the bars (the timing works either way).
    """

    def __init__(self, total_models: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.models = tqdm(total=total_models, desc="evaluating", unit="model", disable=not enabled)
        self.epoch_ends: list[float] = []

    @contextmanager
    def training(self, what: str, epochs: int) -> Iterator[Callable[[int], None]]:
        """Time one training (one network, or an ensemble) and show its epochs when it is long.

        Args:
            what: The bar's label, e.g. ``ConvNet 3`` or ``ConvNet x20``.
            epochs: Epochs the training runs.

        Yields:
            The callback to call with each finished epoch's index.
        """
        bar = tqdm(
            total=epochs, desc=what, unit="epoch", leave=False, delay=EPOCH_BAR_DELAY_S,
            disable=not self.enabled,
        )  # fmt: skip
        self.epoch_ends = [time.perf_counter()]

        def epoch_done(epoch: int) -> None:
            self.epoch_ends.append(time.perf_counter())
            bar.update(1)

        try:
            yield epoch_done
        finally:
            bar.close()

    def epoch_seconds(self) -> float | None:
        """Median seconds of the last training's epochs after its first (``None``: too few).

        The first epoch pays one-off costs (compilation, allocation), so it is left out.
        """
        durations = [b - a for a, b in zip(self.epoch_ends, self.epoch_ends[1:], strict=False)]
        return statistics.median(durations[1:]) if len(durations) > 1 else None

    def tested(self, network: str, accuracy: float) -> None:
        """One network tested: advance the models bar and show its accuracy (in %)."""
        self.models.update(1)
        self.models.set_postfix(model=network, acc=f"{accuracy:.1f}")

    def close(self) -> None:
        """Close the models bar."""
        self.models.close()
