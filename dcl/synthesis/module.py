"""``SynthesisModule``: learnable synthetic images optimised by DM, DC or DSA with manual steps."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn

from dcl.augmentation import DSA, default_dsa_strategy
from dcl.calls import Forward, cpu_compiler, forwards
from dcl.data.registry import DatasetInfo
from dcl.networks import build_network, has_batchnorm
from dcl.objectives import Metric
from dcl.seeding import AUGMENT, BN_STATS, INIT, INNER, NETWORK, REAL, generator, step_seed
from dcl.synthesis.guards import check_precision, stop_unless_finite
from dcl.synthesis.inner import InnerNetwork
from dcl.synthesis.matching import class_chunk_for, dc_loss, dm_loss, set_batchnorm_eval
from dcl.synthesis.outputs import SyntheticOutputs
from dcl.synthesis.settings import (
    DEFAULT_INIT,
    DEFAULT_LR_IMG,
    DEFAULT_MOMENTUM_NET,
    default_loops,
    validate,
)


class SynthesisModule(SyntheticOutputs, L.LightningModule):
    """Learns ``ipc`` synthetic images per class; one training step is one image update.

    Args:
        data_info: Dataset facts (linked from the data module by the CLI).
        method: ``dm`` (distribution matching), ``dc`` (gradient matching) or ``dsa``
            (gradient matching with differentiable siamese augmentation).
        ipc: Images per class.
        backbone: Network name from ``dcl.networks`` (ConvNet is the published default).
        init: ``real`` (random real images per class) or ``noise`` (standard normal); default
            as published: noise for DC, real for DSA and DM.
        batch_real: Real images sampled per class for each matching step.
        lr_img: Image learning rate (default: 1.0 for DM, 0.1 for DC/DSA).
        momentum_img: Momentum of the default SGD image optimiser.
        image_optimizer: Replaces the default SGD (e.g. ``torch.optim.Adam``).
        dsa_strategy: DSA ops joined by ``_``; ``auto`` = published strategy for DM/DSA and none
            for DC; ``none`` disables augmentation.
        metric: Gradient distance for DC/DSA: ``ours``, ``mse`` or ``cos``.
        outer_loop: DC/DSA matching steps per fresh network (default: published table).
        inner_loop: DC/DSA network training epochs between matching steps (default: table).
        lr_net: Learning rate of DC's inner-loop network training.
        momentum_net: Momentum of DC's inner-loop SGD; default as published: 0.5 for DC (the
            original code), 0 for DSA (the release since its DSA commit).
        batch_train: Batch size of DC's inner-loop training.
        batched: Compute all classes' gradients in one ``vmap`` (else the per-class loop);
            ``None``: on GPU only (on CPU the loop measured faster).
        class_chunk: DM: classes per network forward, real and synthetic (0: all at once);
            ``None``: one class per forward on CPU (measured faster), all at once on GPU.
            Batch norm always uses 0.
        compile: Run real-image forwards (DM: synthetic too; DC: its inner loop too) through
            ``torch.compile``: the same loss, measured faster on CPU after a one-off compile of
            about half a minute (needs a C++ compiler); DC/DSA matching only in the per-class
            loop (``batched`` false, the CPU default).
        channels_last: Run the same network calls on channels-last (NHWC) tensors: the same
            loss in another memory layout (see ``benchmarks/throughput.py`` for its speed).
        multi_gpu: ``replicate`` (every rank samples its own networks and real batches, image
            gradients averaged) or ``shard_classes`` (each rank matches its own classes).
        image_log_every_n_steps: How often the image grid goes to TensorBoard (0: never).
        seed: Run seed of every random draw; ``None``: the one given to ``seed_everything`` (or
            0). Kept in the checkpoint, so a resumed run draws what the first one would have.
    """

    def __init__(
        self,
        data_info: DatasetInfo | None = None,
        method: Literal["dm", "dc", "dsa"] = "dm",
        ipc: int = 1,
        backbone: str = "ConvNet",
        init: Literal["real", "noise"] | None = None,
        batch_real: int = 256,
        lr_img: float | None = None,
        momentum_img: float = 0.5,
        image_optimizer: OptimizerCallable | None = None,
        dsa_strategy: str = "auto",
        metric: Metric = "ours",
        outer_loop: int | None = None,
        inner_loop: int | None = None,
        lr_net: float = 0.01,
        momentum_net: float | None = None,
        batch_train: int = 256,
        batched: bool | None = None,
        class_chunk: int | None = None,
        compile: bool = False,
        channels_last: bool = False,
        multi_gpu: Literal["replicate", "shard_classes"] = "replicate",
        image_log_every_n_steps: int = 100,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(data_info, dict):  # as stored in checkpoints' hyperparameters
            data_info = DatasetInfo(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in data_info.items()}
            )
        if data_info is None:
            raise ValueError(
                "SynthesisModule needs data_info (the CLI links it from --data); "
                "in Python pass RealDataModule(...).info."
            )
        init = init or DEFAULT_INIT.get(method, "real")
        momentum_net = (
            DEFAULT_MOMENTUM_NET.get(method, 0.0) if momentum_net is None else momentum_net
        )
        validate(method, ipc, backbone, metric, init, batch_real, multi_gpu)
        if class_chunk is not None and class_chunk < 0:
            raise ValueError(f"class_chunk must be >= 0 (0: all at once), got {class_chunk}.")
        self.save_hyperparameters(ignore=["image_optimizer", "data_info"])
        # What runs, not what was given (the CLI hands save_hyperparameters its parsed None):
        # checkpoints and sets record it, and setup reads it.
        self.hparams.update(init=init, momentum_net=momentum_net)
        self.hparams["data_info"] = dataclasses.asdict(data_info)
        self.info, self.method, self.ipc = data_info, method, ipc
        self.automatic_optimization = False
        self.image_optimizer = image_optimizer
        k, c, s = data_info.num_classes, data_info.channels, data_info.image_size
        self.images = nn.Parameter(torch.randn(k * ipc, c, s, s))  # (K*ipc, C, H, W)
        self.register_buffer("labels", torch.arange(k).repeat_interleave(ipc), persistent=False)
        self.outer_loop, self.inner_loop = default_loops(ipc)
        self.outer_loop = outer_loop or self.outer_loop
        self.inner_loop = inner_loop if inner_loop is not None else self.inner_loop
        strategy = dsa_strategy
        if strategy == "auto":
            strategy = "none" if method == "dc" else default_dsa_strategy(data_info.name)
        self.dsa = None if strategy == "none" else DSA(strategy)
        self.inner = InnerNetwork(self._network, lr_net, momentum_net)
        self.seed = 0
        # Steps of earlier fits: a second ``trainer.fit`` continues (new draws, same images).
        self.step_offset, self._steps_done, self._initialised = 0, 0, False
        self._output_dir: Path | None = None

    # ----------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        """Check settings against the data, then initialise the images (rank-independent)."""
        self._output_dir = None
        self.output_dir  # noqa: B018 - collective call, must run on all ranks
        if self.hparams.compile and self.device.type == "cpu" and cpu_compiler() is None:
            raise RuntimeError(
                "compile=True on CPU needs a C++ compiler (g++, or the one named by $CXX) and "
                "none was found; install one or leave --model.compile false."
            )
        check_precision(self.trainer, self.method)
        self._adopt_class_names()
        train = self.trainer.datamodule.train
        train.check_per_class(self.hparams.batch_real, "real images per class (--model.batch_real)")
        if self._initialised:  # a further fit continues from the current images
            self.step_offset = self._steps_done
            return
        self._initialised = True
        given = self.hparams.seed
        self.seed = int(given if given is not None else os.environ.get("PL_GLOBAL_SEED", 0))
        self.hparams["seed"] = self.seed  # checkpoints record it
        if self.hparams.init == "real":
            train.check_per_class(self.ipc, "synthetic images per class (--model.ipc, init real)")
            g = generator(step_seed(self.seed, 0, 0, INIT), train.device)
            real = train.sample(self.ipc, g)  # (K, ipc, C, H, W)
            self.images.data.copy_(real.flatten(0, 1))
        else:
            g = generator(step_seed(self.seed, 0, 0, INIT))
            self.images.data.copy_(torch.randn(self.images.shape, generator=g))

    def _adopt_class_names(self) -> None:
        # The CLI builds the module from static facts; class names may come with the data.
        data = self.trainer.datamodule.info
        if not self.info.class_names and data.num_classes == self.info.num_classes:
            self.info = dataclasses.replace(self.info, class_names=data.class_names)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD on the images with the method's published learning rate, unless replaced."""
        if self.image_optimizer is not None:
            return self.image_optimizer([self.images])
        lr = self.hparams.lr_img or DEFAULT_LR_IMG[self.method]
        return torch.optim.SGD([self.images], lr=lr, momentum=self.hparams.momentum_img)

    # ------------------------------------------------------------ one step
    @property
    def sharded(self) -> bool:
        """Whether each rank matches only its own classes."""
        return self.hparams.multi_gpu == "shard_classes" and self.trainer.world_size > 1

    def _my_classes(self) -> Tensor:
        k = self.info.num_classes
        if not self.sharded:
            return torch.arange(k, device=self.device)
        return torch.arange(self.global_rank, k, self.trainer.world_size, device=self.device)

    def _sampling_rank(self) -> int:
        # Sharded ranks draw what one process would, so that shards add up to a single run.
        return 0 if self.sharded else self.global_rank

    def _network(self, index: int) -> nn.Module:
        g = generator(step_seed(self.seed, self._sampling_rank(), index, NETWORK), self.device)
        i = self.info
        return build_network(
            self.hparams.backbone,
            i.channels,
            i.num_classes,
            i.image_size,
            generator=g,
            device=self.device,
        )

    def _forwards(self) -> tuple[Forward, Forward]:
        return forwards(self.hparams.compile, self.hparams.channels_last)

    def _siamese(self, step: int, classes: Tensor):
        if self.dsa is None:
            return None
        g = generator(step_seed(self.seed, self._sampling_rank(), step, AUGMENT), self.device)
        params = self.dsa.sample(self.info.num_classes, g, device=self.device).select(classes)
        return lambda real, syn: (self.dsa.apply(real, params), self.dsa.apply(syn, params))

    def _syn(self, classes: Tensor) -> Tensor:
        i = self.info
        return self.images.view(i.num_classes, self.ipc, *self.images.shape[1:])[classes]

    def _real(self, n: int, classes: Tensor, step: int, stream: int = REAL) -> Tensor:
        dm = self.trainer.datamodule
        rank = self._sampling_rank()
        return dm.real_batch(n, classes, step=step, rank=rank, stream=stream, seed=self.seed)

    def dm_step_loss(self, step: int) -> Tensor:
        """DM: a fresh frozen network, real and synthetic embeddings of all classes at once."""
        classes = self._my_classes()
        net = self._network(step).requires_grad_(False)
        real = self._real(self.hparams.batch_real, classes, step)
        chunk = class_chunk_for(net, self.device, self.hparams.class_chunk)
        forward = self._forwards()[0]
        syn = self._syn(classes)
        return dm_loss(net, real, syn, self._siamese(step, classes), chunk, forward)

    def dc_step_loss(self, step: int) -> Tensor:
        """DC/DSA: gradient matching on the current outer iteration's network."""
        outer = step // self.outer_loop
        classes, net = self._my_classes(), self.inner.get(outer)
        if has_batchnorm(net):
            # Set running statistics from 16 real images per class, then freeze them.
            everyone = torch.arange(self.info.num_classes, device=self.device)
            net.train()
            with torch.no_grad():
                net(self._real(16, everyone, step, BN_STATS).flatten(0, 1))
            set_batchnorm_eval(net)
        real = self._real(self.hparams.batch_real, classes, step)
        return dc_loss(
            net,
            real,
            self._syn(classes),
            classes,
            self.hparams.metric,
            self._siamese(step, classes),
            self.device.type == "cuda" if self.hparams.batched is None else self.hparams.batched,
            self._forwards()[1],
        )

    def _train_inner(self, step: int) -> None:
        """DC's inner loop on the detached set (per-image DSA when the method augments)."""
        g = generator(step_seed(self.seed, self._sampling_rank(), step, INNER), self.device)
        augment = None if self.dsa is None else (lambda x: self.dsa.per_image(x, g))
        forward = self._forwards()[1]
        self.inner.train(
            self.images, self.labels, self.inner_loop, self.hparams.batch_train, g, augment, forward
        )

    @property
    def step(self) -> int:
        """Image updates so far, over every fit of this module (seeds every draw)."""
        return self.step_offset + self.global_step

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """One image update: matching loss, non-finite check, backward, optimiser step."""
        step = self.step
        loss = self.dm_step_loss(step) if self.method == "dm" else self.dc_step_loss(step)
        stop_unless_finite(loss, step, self.trainer)
        optimizer = self.optimizers()
        optimizer.zero_grad()
        # DDP averages image gradients; shards hold disjoint classes, so undo the average.
        self.manual_backward(loss * self.trainer.world_size if self.sharded else loss)
        optimizer.step()
        if self.method != "dm" and step % self.outer_loop != self.outer_loop - 1:
            self._train_inner(step)
        self._steps_done = step + 1
        # Every rank's loss: the sum of the shards' classes, or the mean of replicated ranks.
        reduce = "sum" if self.sharded else "mean"
        self.log("loss", loss.detach(), prog_bar=True, sync_dist=True, reduce_fx=reduce)
        every = self.hparams.image_log_every_n_steps
        if every and step % every == 0:
            self.log_images()
        return loss.detach()

    # ----------------------------------------------------------------- resume
    def on_train_end(self) -> None:
        """Save the final set and say where it is."""
        if self.trainer.is_global_zero:
            path = self.save_outputs()
            self.print(f"Synthetic set: {path} (grid: {path.with_suffix('.png')})")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the seed and DC's inner network (exact resume); refresh ``synthetic.pt``."""
        checkpoint["dc_inner"] = self.inner.state_dict()
        checkpoint["dcl_seed"], checkpoint["dcl_step_offset"] = self.seed, self.step_offset
        if self.trainer.is_global_zero:
            self.save_outputs()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the run's seed (not this process's) and DC's inner network (lazily)."""
        self.inner.load_state_dict(checkpoint.get("dc_inner"))
        self.seed = checkpoint.get("dcl_seed", self.seed)
        self.step_offset = checkpoint.get("dcl_step_offset", 0)
        self.hparams["seed"] = self.seed
