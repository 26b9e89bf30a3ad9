"""DC, gradient matching (Zhao, Mopuri, Bilen, ICLR 2021): the method, its defaults and loops."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dcl.augmentation import default_dsa_strategy
from dcl.methods.base import MatchingMethod, StepContext
from dcl.methods.dc.inner import InnerNetwork
from dcl.methods.dc.loss import dc_loss, set_batchnorm_eval
from dcl.methods.hints import EvaluationHints
from dcl.methods.published import DC_DATASETS, IPCS, PublishedConfig, matching_model
from dcl.networks import has_batchnorm
from dcl.objectives import Metric
from dcl.seeding import BN_STATS, INNER, REAL

OUTER_ITERATIONS = 1000  # the papers' K: fresh networks per run (x outer_loop image updates)
# (outer_loop, inner_loop) per images per class, DC/DSA papers.
PUBLISHED_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


def default_loops(ipc: int) -> tuple[int, int]:
    """``(outer_loop, inner_loop)`` for any ``ipc``: the published table, else the nearest entry.

    Beyond 50 images per class the authors suggest (100, 2), used from 100 on.
    """
    if ipc in PUBLISHED_LOOPS:
        return PUBLISHED_LOOPS[ipc]
    if ipc >= 100:
        return (100, 2)
    nearest = min(PUBLISHED_LOOPS, key=lambda k: (abs(k - ipc), k))
    return PUBLISHED_LOOPS[nearest]


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
    # The release's evaluate_synset for DC sets: its get_daparam augmentation rule, 1000 epochs
    # with augmentation and 300 without.
    evaluation = EvaluationHints(augment="release")
    # DC's numbers came from the original code: noise initialisation, inner SGD momentum 0.5.
    init = "noise"
    lr_img = 0.1
    dsa_strategy = "none"
    momentum_net = 0.5
    published_settings = tuple((dataset, ipc) for dataset in DC_DATASETS for ipc in IPCS)
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

    @classmethod
    def published_config(cls, dataset: str, ipc: int) -> PublishedConfig:
        """The paper's setting: ConvNet, the loops of ``PUBLISHED_LOOPS``, 1000 outer iterations."""
        outer, inner = default_loops(ipc)
        strategy = None if cls.dsa_strategy == "none" else default_dsa_strategy(dataset)
        loops = dict(outer_loop=outer, inner_loop=inner, lr_net=0.01)
        loops.update(momentum_net=cls.momentum_net, metric="ours")
        model = matching_model(ipc, cls.init, cls.lr_img, strategy, **loops)
        return PublishedConfig(model, OUTER_ITERATIONS * outer)

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
