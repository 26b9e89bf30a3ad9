"""DM, distribution matching (Zhao, Bilen, WACV 2023)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from dcl.networks import uses_batchnorm
from dcl.seeding import REAL
from dcl.synthesis.matching import class_chunk_for, dm_loss
from dcl.synthesis.methods.base import MatchingMethod, StepContext
from dcl.synthesis.settings import DEFAULT_INIT, DEFAULT_LR_IMG, DEFAULT_MOMENTUM_NET


class DM(MatchingMethod):
    """Mean embeddings of real and synthetic images under a fresh frozen network each step.

    Args:
        class_chunk: Classes per network forward, real and synthetic (0: all at once);
            ``None``: one class per forward on CPU (measured faster), all at once on GPU.
            Batch norm always uses 0.
    """

    name = "dm"
    bf16_measured = True  # results/precision: MNIST 1 ipc, 3 seeds
    init = DEFAULT_INIT["dm"]
    lr_img = DEFAULT_LR_IMG["dm"]
    dsa_strategy = "published"
    momentum_net = DEFAULT_MOMENTUM_NET["dm"]

    def __init__(self, class_chunk: int | None = None) -> None:
        super().__init__()
        if class_chunk is not None and class_chunk < 0:
            raise ValueError(f"class_chunk must be >= 0 (0: all at once), got {class_chunk}.")
        self.class_chunk = class_chunk

    def loss(self, ctx: StepContext) -> Tensor:
        """DM's loss on the step's network and real batch, all of this rank's classes at once."""
        net = ctx.network(ctx.step).requires_grad_(False)
        real = ctx.real(ctx.batch_real, ctx.classes, REAL)
        chunk = class_chunk_for(net, ctx.device, self.class_chunk)
        return dm_loss(net, real, ctx.syn, ctx.siamese, chunk, ctx.embed)

    def speed_options(self, ctx: StepContext) -> dict[str, list[Any]]:
        """``class_chunk``: one class per forward or all at once (batch norm: always all)."""
        i = ctx.info
        if uses_batchnorm(ctx.backbone, i.channels, i.num_classes, i.image_size):
            return {}
        return {"class_chunk": [0, 1] if ctx.device.type == "cuda" else [1, 0]}
