"""Tiny real data (3 classes of random 8x8 gray images) and expert settings that train in ms."""

from __future__ import annotations

import pytest
import torch

from dcl import RealDataModule
from dcl.methods.mtt import ExpertSettings

# 45 train images: batches of 16, 16 and 13 (the last one short, as the release's loader keeps it).
SETTINGS = ExpertSettings(network="ConvNetW32", epochs=2, batch_size=16, seed=3)


def tiny_data() -> RealDataModule:
    """A fresh data module over the same tensors every time."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (60, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.arange(3).repeat(20)
    return RealDataModule.from_tensors(
        images[:45], labels[:45], test=(images[45:], labels[45:]), name="tiny"
    )


@pytest.fixture
def data() -> RealDataModule:
    return tiny_data()
