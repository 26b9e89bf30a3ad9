"""DC, gradient matching (Zhao, Mopuri, Bilen, ICLR 2021)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dcl.networks import has_batchnorm
from dcl.objectives import Metric
from dcl.seeding import BN_STATS, INNER, REAL
from dcl.synthesis.inner import InnerNetwork
from dcl.synthesis.matching import dc_loss, set_batchnorm_eval
from dcl.synthesis.methods.base import MatchingMethod, StepContext
from dcl.synthesis.settings import DEFAULT_INIT, DEFAULT_LR_IMG, DEFAULT_MOMENTUM_NET, default_loops


class DC(MatchingMethod):
    """Per-class parameter gradients of a network trained between matching steps.

    A fresh network every ``outer_loop`` steps; after each step but an outer iteration's last it
    trains ``inner_loop`` epochs on the detached set (per-image DSA when the run augments). The
    network and its optimiser are this method's extra state: checkpoints keep them.

    Args:
        ipc: Images per class (picks the published loops).
        metric: Gradient distance: ``ours``, ``mse`` or ``cos``.
        outer_loop: Matching steps per fresh network (default: published table).
        inner_loop: Network training epochs between matching steps (default: table).
        lr_net: Learning rate of the inner-loop SGD.
        momentum_net: Momentum of the inner-loop SGD (default: the class's ``momentum_net``).
        batch_train: Batch size of the inner loop.
        batched: All classes' gradients in one ``vmap`` (else the per-class loop); ``None``: on
            GPU only (on CPU the loop measured faster).
    """

    name = "dc"
    init = DEFAULT_INIT["dc"]
    lr_img = DEFAULT_LR_IMG["dc"]
    dsa_strategy = "none"
    momentum_net = DEFAULT_MOMENTUM_NET["dc"]
    float16 = False  # the inner loop's SGD runs without a gradient scaler
    compile_needs = {"batched": False}  # vmap-ed gradients bypass ctx.logits

    def __init__(
        self,
        ipc: int = 1,
        metric: Metric = "ours",
        outer_loop: int | None = None,
        inner_loop: int | None = None,
        lr_net: float = 0.01,
        momentum_net: float | None = None,
        batch_train: int = 256,
        batched: bool | None = None,
    ) -> None:
        super().__init__()
        outer, inner = default_loops(ipc)
        self.outer_loop = outer_loop or outer
        self.inner_loop = inner if inner_loop is None else inner_loop
        self.metric, self.batch_train, self.batched = metric, batch_train, batched
        momentum = type(self).momentum_net if momentum_net is None else momentum_net
        self.inner = InnerNetwork(lr_net, momentum)

    def loss(self, ctx: StepContext) -> Tensor:
        """Gradient matching on the current outer iteration's network."""
        net = self.inner.get(ctx.step // self.outer_loop, ctx.network)
        if has_batchnorm(net):
            # Set running statistics from 16 real images per class, then freeze them.
            everyone = torch.arange(ctx.info.num_classes, device=ctx.device)
            net.train()
            with torch.no_grad():
                net(ctx.real(16, everyone, BN_STATS).flatten(0, 1))
            set_batchnorm_eval(net)
        real = ctx.real(ctx.batch_real, ctx.classes, REAL)
        batched = ctx.device.type == "cuda" if self.batched is None else self.batched
        syn, classes = ctx.syn, ctx.classes
        return dc_loss(net, real, syn, classes, self.metric, ctx.siamese, batched, ctx.logits)

    def speed_options(self, ctx: StepContext) -> dict[str, list[Any]]:
        """``batched``: all classes in one ``vmap`` or the per-class loop."""
        gpu = ctx.device.type == "cuda"
        return {"batched": [gpu, not gpu]}

    def after_update(self, ctx: StepContext) -> None:
        """The inner loop, except after an outer iteration's last step (a new network follows)."""
        if ctx.step % self.outer_loop == self.outer_loop - 1:
            return
        g = ctx.generator(INNER)
        augment = None if ctx.dsa is None else (lambda x: ctx.dsa.per_image(x, g))
        data = (ctx.images, ctx.labels, self.inner_loop, self.batch_train, g, augment, ctx.logits)
        self.inner.train(*data)

    def get_extra_state(self) -> dict[str, Any] | None:
        """The inner network and its optimiser (exact resume mid outer iteration)."""
        return self.inner.state_dict()

    def set_extra_state(self, state: dict[str, Any] | None) -> None:
        """Restore the inner network lazily (when its outer iteration is next asked for)."""
        self.inner.load_state_dict(state)
