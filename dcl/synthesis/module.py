"""``SynthesisModule``: learnable synthetic images optimised by a matching method, manual steps."""

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
from dcl.calls import forwards
from dcl.data.registry import DatasetInfo
from dcl.methods import Siamese, StepContext, build_method, resolve_method
from dcl.networks import build_network
from dcl.objectives import Metric
from dcl.seeding import AUGMENT, INIT, NETWORK, generator, step_seed
from dcl.synthesis.guards import check_compiler, check_precision, stop_unless_finite
from dcl.synthesis.outputs import SyntheticOutputs
from dcl.synthesis.settings import validate
from dcl.synthesis.speed import Autotuned


class SynthesisModule(SyntheticOutputs, Autotuned, L.LightningModule):
    """Learns ``ipc`` synthetic images per class; one training step is one image update.

    The module owns seeding, class sharding, DDP, guards, logging, checkpoints and outputs; the
    matching method (``dcl.methods``) computes each step's loss from a ``StepContext``.

    Args:
        data_info: Dataset facts (linked from the data module by the CLI).
        method: ``dm`` (distribution matching), ``dc`` (gradient matching), ``dsa`` (gradient
            matching with differentiable siamese augmentation), ``mtt`` (trajectory matching;
            needs an expert buffer: ``train_experts.py``), ``datadam`` (attention matching), or
            the dotted class path of a ``dcl.methods.MatchingMethod`` of your own.
        method_args: Constructor options of the method beyond the module's own (a method of your
            own, e.g. ``{"weight": 2.0}``); recorded in the hyperparameters, so checkpoints reload.
        ipc: Images per class.
        backbone: The network: ConvNet (the published default), ConvNetW32, ConvNetW64,
            ConvNetW128, ConvNetW256, ConvNetD1, ConvNetD2, ConvNetD3, ConvNetD4, ConvNetAS,
            ConvNetAR, ConvNetAL, ConvNetASwish, ConvNetNN, ConvNetBN, ConvNetLN, ConvNetIN,
            ConvNetGN, ConvNetNP, ConvNetMP, ConvNetAP, ConvNetASwishBN, MLP, LeNet, AlexNet,
            AlexNetBN, VGG11, VGG11BN, ResNet18, ResNet18BN, ResNet18_AP, ResNet18BN_AP; or
            the dotted class path of your own (``mypkg.nets.MyNet``): an ``nn.Module`` subclass,
            or a function returning one, taking ``(channels, num_classes, image_size)``. DM uses
            its ``embed(x)`` method, else the input of its last ``nn.Linear``.
        init: ``real`` (random real images per class) or ``noise`` (standard normal); default
            as published (the method's): noise for DC, real for DSA and DM.
        batch_real: Real images sampled per class for each matching step.
        lr_img: Image learning rate (default, the method's: 1.0 for DM, 0.1 for DC/DSA).
        momentum_img: Momentum of the default SGD image optimiser.
        image_optimizer: Replaces the default SGD (e.g. ``torch.optim.Adam``).
        dsa_strategy: DSA ops (color, crop, cutout, flip, scale, rotate) joined by ``_``;
            ``auto`` = the method's default (the published strategy for DM/DSA, none for DC);
            ``none`` disables augmentation.
        metric: Gradient distance for DC/DSA: ``ours``, ``mse`` or ``cos``.
        outer_loop: DC/DSA matching steps per fresh network (default: published table).
        inner_loop: DC/DSA network training epochs between matching steps (default: table).
        lr_net: Learning rate of DC's inner-loop network training.
        momentum_net: Momentum of DC's inner-loop SGD; default as published: 0.5 for DC (the
            original code), 0 for DSA (the release since its DSA commit).
        batch_train: Batch size of DC's inner-loop training.
        batched: DC/DSA: all classes' gradients in one ``vmap`` (else the per-class loop).
        class_chunk: DM: classes per network forward, real and synthetic (0: all at once; batch
            norm always uses 0).
        compile: Run real-image forwards (DM: synthetic too; DC: its inner loop too) through
            ``torch.compile`` (a C++ compiler on CPU; a one-off compile of about half a minute);
            DC/DSA matching only in the per-class loop (``batched`` false).
        channels_last: Run the same network calls on channels-last (NHWC) tensors.
        bf16: bfloat16 autocast of the matching step (and DC's inner loop); not the same
            numbers: offered by autotune only on hardware with bfloat16 units, in a float32 run,
            for methods whose sets measured as accurate under it (DM, DSA: docs/speed.md);
            false keeps float32.
        autotune: Decide the five options above where unset (null) by timing the run's own
            step (printed, checkpointed, cached per machine and shape in ``$DCL_CACHE_DIR``; a
            run under 100 steps only reuses a cached choice). Off: unset means no compile, no
            NHWC, float32, ``batched`` on GPU only, ``class_chunk`` 1 on CPU and 0 on GPU.
        multi_gpu: ``replicate`` (every rank samples its own networks and real batches, image
            gradients averaged) or ``shard_classes`` (each rank matches its own classes).
        image_log_every_n_steps: How often the image grid goes to TensorBoard (0: never).
        seed: Run seed of every random draw; ``None``: the one given to ``seed_everything`` (or
            0). Kept in the checkpoint, so a resumed run draws what the first one would have.
    """

    def __init__(
        self,
        data_info: DatasetInfo | None = None,
        method: str = "dm",
        method_args: dict[str, Any] | None = None,
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
        compile: bool | None = None,
        channels_last: bool | None = None,
        bf16: bool | None = None,
        autotune: bool = True,
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
        validate(method, ipc, backbone, metric, init or "real", batch_real, multi_gpu)
        cls = resolve_method(method)
        init = init or cls.init
        momentum_net = cls.momentum_net if momentum_net is None else momentum_net
        self.save_hyperparameters(ignore=["image_optimizer", "data_info"])
        # What runs, not what was given (the CLI hands save_hyperparameters its parsed None):
        # checkpoints and sets record it, and setup reads it.
        self.hparams.update(init=init, momentum_net=momentum_net)
        self.hparams["data_info"] = dataclasses.asdict(data_info)
        self.info, self.method, self.ipc = data_info, cls.name, ipc
        self.automatic_optimization = False
        self.image_optimizer = image_optimizer
        k, c, s = data_info.num_classes, data_info.channels, data_info.image_size
        self.images = nn.Parameter(torch.randn(k * ipc, c, s, s))  # (K*ipc, C, H, W)
        self.register_buffer("labels", torch.arange(k).repeat_interleave(ipc), persistent=False)
        options = {"ipc": ipc, "metric": metric, "outer_loop": outer_loop}
        options.update(inner_loop=inner_loop, lr_net=lr_net, momentum_net=momentum_net)
        options.update(batch_train=batch_train, batched=batched, class_chunk=class_chunk)
        self.matching = build_method(cls, options, method_args)
        strategy = cls.dsa_strategy if dsa_strategy == "auto" else dsa_strategy
        if strategy == "published":
            strategy = default_dsa_strategy(data_info.name)
        self.dsa = None if strategy == "none" else DSA(strategy)
        self.seed = 0
        # Steps of earlier fits: a second ``trainer.fit`` continues (new draws, same images).
        self.step_offset, self._steps_done, self._initialised = 0, 0, False
        self._output_dir: Path | None = None
        self.speed_path, self._speed_applied = None, False  # autotune's decision (checkpointed)
        self.outputs_announced = False  # an evaluation callback printed where the set is

    # ----------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        """Check settings against the data, then initialise the images (rank-independent)."""
        self._output_dir = None
        self.output_dir  # noqa: B018 - collective call, must run on all ranks
        check_compiler(self.hparams.compile, self.device)
        if not self.matching.float16:
            check_precision(self.trainer, self.method)
        self._adopt_class_names()
        self.matching.on_setup(self.trainer.datamodule, self.hparams.backbone, self.sharded)
        train = self.trainer.datamodule.train
        if self.matching.real_batches:
            what = "real images per class (--model.batch_real)"
            train.check_per_class(self.hparams.batch_real, what)
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
            real = self.matching.initial_images(train, self.ipc, g)  # (K, ipc, C, H, W)
            self.images.data.copy_(real.flatten(0, 1))
        else:
            g = generator(step_seed(self.seed, 0, 0, INIT))
            self.images.data.copy_(torch.randn(self.images.shape, generator=g))
        self.matching.after_init(self.images.detach(), self.labels)

    def _adopt_class_names(self) -> None:
        # The CLI builds the module from static facts; class names may come with the data.
        data = self.trainer.datamodule.info
        if not self.info.class_names and data.num_classes == self.info.num_classes:
            self.info = dataclasses.replace(self.info, class_names=data.class_names)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD on the images (and the method's parameter groups), unless replaced."""
        extra = self.matching.param_groups()
        params = [{"params": [self.images]}, *extra] if extra else [self.images]
        if self.image_optimizer is not None:
            return self.image_optimizer(params)
        lr = self.hparams.lr_img or self.matching.lr_img
        return torch.optim.SGD(params, lr=lr, momentum=self.hparams.momentum_img)

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
        shape = (i.channels, i.num_classes, i.image_size)
        return build_network(self.hparams.backbone, *shape, generator=g, device=self.device)

    def _siamese(self, step: int, classes: Tensor) -> Siamese | None:
        if self.dsa is None:
            return None
        g = generator(step_seed(self.seed, self._sampling_rank(), step, AUGMENT), self.device)
        params = self.dsa.sample(self.info.num_classes, g, device=self.device).select(classes)
        return lambda real, syn: (self.dsa.apply(real, params), self.dsa.apply(syn, params))

    def context(self, step: int) -> StepContext:
        """What the matching method gets for one image update.

        Args:
            step: The image update (every draw of the context is seeded by it).
        """
        classes, i, rank = self._my_classes(), self.info, self._sampling_rank()
        dm, seed = self.trainer.datamodule, self.seed
        embed, logits = forwards(self.hparams.compile, self.hparams.channels_last)
        return StepContext(
            step=step,
            classes=classes,
            syn=self.images.view(i.num_classes, self.ipc, *self.images.shape[1:])[classes],
            images=self.images,
            labels=self.labels,
            info=i,
            backbone=self.hparams.backbone,
            batch_real=self.hparams.batch_real,
            network=self._network,
            real=lambda n, c, stream: dm.real_batch(
                n, c, step=step, rank=rank, stream=stream, seed=seed
            ),
            generator=lambda stream: generator(step_seed(seed, rank, step, stream), self.device),
            siamese=self._siamese(step, classes),
            dsa=self.dsa,
            embed=embed,
            logits=logits,
            device=self.device,
        )

    @property
    def step(self) -> int:
        """Image updates so far, over every fit of this module (seeds every draw)."""
        return self.step_offset + self.global_step

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """One image update: matching loss, non-finite check, backward, optimiser step."""
        ctx = self.context(self.step)
        with self.speed_context():  # bfloat16 autocast if autotune chose it
            loss = self.matching.loss(ctx)
        stop_unless_finite(loss, ctx.step, self.trainer)
        optimizer = self.optimizers()
        optimizer.zero_grad()
        # DDP averages image gradients; shards hold disjoint classes, so undo the average.
        self.manual_backward(loss * self.trainer.world_size if self.sharded else loss)
        optimizer.step()
        with self.speed_context():
            self.matching.after_update(ctx)
        self._steps_done = ctx.step + 1
        # Every rank's loss: the sum of the shards' classes, or the mean of replicated ranks.
        reduce = "sum" if self.sharded else "mean"
        self.log("loss", loss.detach(), prog_bar=True, sync_dist=True, reduce_fx=reduce)
        if (lr := self.learned_lr()) is not None:  # MTT's syn_lr: equal on every rank (DDP)
            self.log("learned_lr", lr, prog_bar=True)
        every = self.hparams.image_log_every_n_steps
        if every and ctx.step % every == 0:
            self.log_images()
        return loss.detach()

    # ----------------------------------------------------------------- resume
    def on_train_end(self) -> None:
        """Save the final set and say where it is."""
        if self.trainer.is_global_zero:
            path = self.save_outputs()
            if not self.outputs_announced:  # else its report, just above, named them
                self.print(f"Synthetic set: {path} (grid: {path.with_suffix('.png')})")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the run's seed (the method's state is in the state dict); refresh the set."""
        checkpoint["dcl_seed"], checkpoint["dcl_step_offset"] = self.seed, self.step_offset
        checkpoint["dcl_autotune"] = self.speed_path
        if self.trainer.is_global_zero:
            self.save_outputs()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the run's seed (not this process's); read DC's state from older files."""
        if "dc_inner" in checkpoint and "matching._extra_state" in self.state_dict():
            checkpoint["state_dict"]["matching._extra_state"] = checkpoint.pop("dc_inner")
        self.seed = checkpoint.get("dcl_seed", self.seed)
        self.step_offset = checkpoint.get("dcl_step_offset", 0)
        self.speed_path = checkpoint.get("dcl_autotune")  # a resumed run keeps its path
        self.hparams["seed"] = self.seed
