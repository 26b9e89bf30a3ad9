"""Train a buffer's missing experts, split over the ranks of a Lightning Fabric launch.

Each expert is an independent network with its own seed, so ranks never synchronise gradients
(nothing is wrapped in DDP): after one look at which shards exist, rank ``r`` of ``W`` trains the
missing experts ``missing[r::W]`` one after the other, each in a plain loop on its own device
(``ExpertTraining.fit_tensors``), and writes only their shard files. Rank 0 writes the manifest.
Fabric rather than a ``Trainer`` per expert: a launch gives every rank its device and a barrier
without tying the processes into one model, and an expert costs no Trainer set-up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from tqdm.auto import tqdm

from dcl.augmentation import DSA, DSA_STRATEGY_FULL
from dcl.data.module import RealDataModule
from dcl.methods.mtt.buffer import ExpertBuffer
from dcl.methods.mtt.expert import ExpertTraining, check_settings, expert_seed
from dcl.methods.mtt.manifest import MANIFEST, describe
from dcl.networks import network_problem


@dataclass(frozen=True)
class ExpertSettings:
    """How every expert of a buffer trains (the release's defaults).

    Attributes:
        network: Network name (``dcl.networks``) or class path.
        epochs: Epochs per expert (50 published).
        lr: SGD learning rate (0.01).
        momentum: SGD momentum (0).
        weight_decay: SGD weight decay (0).
        batch_size: Images per step (256).
        augment: ``dsa`` (published) or ``none``.
        dsa_strategy: DSA ops (published: all six, whatever the dataset).
        decay: lr x0.1 after epoch ``epochs // 2 + 1`` (the release's ``--decay``, off).
        seed: Base seed; expert ``i`` draws from ``expert_seed(seed, i)``.
    """

    network: str = "ConvNet"
    epochs: int = 50
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 256
    augment: str = "dsa"
    dsa_strategy: str = DSA_STRATEGY_FULL
    decay: bool = False
    seed: int = 0

    def check(self) -> None:
        """Raise ``ValueError`` for a setting out of range, an unknown network or DSA op."""
        check_settings(
            self.epochs, self.lr, self.momentum, self.weight_decay, self.batch_size, self.augment
        )
        if problem := network_problem(self.network):
            raise ValueError(problem)
        if self.augment == "dsa":
            DSA(self.dsa_strategy)

    def training(self) -> dict[str, Any]:
        """The manifest's ``training`` entry (everything but the network and epochs)."""
        entry = asdict(self)
        del entry["network"], entry["epochs"]
        if self.augment != "dsa":
            entry["dsa_strategy"] = None
        return entry

    def module(self, datamodule: RealDataModule, expert: int) -> ExpertTraining:
        """Expert ``expert``'s module (its network initialised from its own seed).

        Args:
            datamodule: The real data (its dataset facts size the network).
            expert: The expert's index.
        """
        hp = asdict(self)
        return ExpertTraining(hp.pop("network"), datamodule.info, expert=expert, **hp)


def buffer_manifest(datamodule: RealDataModule, settings: ExpertSettings) -> dict[str, Any]:
    """The manifest of a buffer of ``settings`` experts on ``datamodule``'s training set."""
    net = settings.module(datamodule, 0).net
    zca = bool(getattr(datamodule, "zca", False))
    eps = getattr(datamodule, "zca_eps", None) if zca else None
    spec = getattr(datamodule, "validation_spec", lambda: None)()  # held out of the experts
    return describe(
        datamodule.info, settings.network, net, settings.epochs, settings.training(), zca, eps,
        spec,
    )  # fmt: skip


def check_buffer(out: str | Path, datamodule: RealDataModule, settings: ExpertSettings) -> None:
    """Raise ``ValueError`` now if ``out`` holds a buffer made with other settings."""
    settings.check()
    if (Path(out) / MANIFEST).is_file():
        ExpertBuffer(out).check_appendable(buffer_manifest(datamodule, settings))


def training_tensors(datamodule: RealDataModule, device: torch.device) -> tuple[Tensor, Tensor]:
    """The whole training split as normalised float images and labels on ``device``.

    Normalised by the split's own ``normalize``: the dataset's mean and std, or with the data
    module's ``zca`` the whitened pixels. In chunks, so the float copy is the only large
    allocation.
    """
    if datamodule.train is None:
        datamodule.setup("fit")
    train = datamodule.train.to(device)
    images = torch.cat([train.normalize(chunk) for chunk in train.images.split(4096)])
    return images, train.labels


def train_experts(
    datamodule: RealDataModule,
    out: str | Path,
    num_experts: int,
    settings: ExpertSettings | None = None,
    accelerator: str = "auto",
    devices: int | str | list[int] = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    progress: bool = True,
    partial_every: int = 1,
) -> ExpertBuffer:
    """Train experts ``0..num_experts-1`` of the buffer at ``out`` that it does not hold yet.

    Args:
        datamodule: The real data (its training split is what the experts learn).
        out: The buffer directory (created; an existing buffer must have the same settings).
        num_experts: How many experts the buffer should hold.
        settings: Training settings (default: the release's).
        accelerator: Lightning accelerator (``auto``, ``cpu``, ``cuda``, ...).
        devices: Processes per node sharing the experts.
        num_nodes: Nodes.
        strategy: Fabric strategy for several devices (``auto``: ddp; ``ddp_spawn``).
        progress: Show rank 0's progress bar.
        partial_every: Save an unfinished expert every this many epochs, so an interrupted run
            resumes it there (0: never; it then restarts from its initialisation).

    Returns:
        The buffer (read on the calling process, after every rank finished).

    Raises:
        ValueError: A bad setting, or a buffer at ``out`` made with other settings.
    """
    settings = settings or ExpertSettings()
    if num_experts < 0 or partial_every < 0:
        raise ValueError(
            f"num_experts and partial_every must be >= 0, got {num_experts} and {partial_every}."
        )
    check_buffer(out, datamodule, settings)  # before any process starts: one clear error
    fabric = L.Fabric(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy
    )
    # Plain values: Fabric's launcher walks the arguments and refuses frozen dataclasses.
    job = dict(out=str(out), num_experts=num_experts, progress=progress, every=partial_every)
    fabric.launch(_train_on_rank, datamodule, asdict(settings), job)
    return ExpertBuffer(out)


def _train_on_rank(
    fabric: L.Fabric, datamodule: RealDataModule, options: dict[str, Any], job: dict[str, Any]
) -> None:
    """One rank: its share of the missing experts, between two barriers."""
    settings = ExpertSettings(**options)
    out, every = job["out"], job["every"]
    per_node = getattr(datamodule, "prepare_data_per_node", True)
    if fabric.local_rank == 0 if per_node else fabric.global_rank == 0:
        datamodule.prepare_data()  # downloads and caches
    fabric.barrier()
    if fabric.local_rank == 0:  # a ZCA fit (cached): once per node
        datamodule.setup("fit")
    fabric.barrier()
    datamodule.setup("fit")  # the other ranks read what local rank 0 cached
    spec = buffer_manifest(datamodule, settings)
    if fabric.is_global_zero:
        ExpertBuffer.create(out, spec)
    fabric.barrier()
    buffer = ExpertBuffer(out)
    buffer.check_appendable(spec)
    missing = [i for i in range(job["num_experts"]) if not buffer.has(i)]
    fabric.barrier()  # every rank has looked before any shard of this run appears
    mine = missing[fabric.global_rank :: fabric.world_size]
    if mine:
        images, labels = training_tensors(datamodule, fabric.device)
    bar = tqdm(
        total=len(mine) * settings.epochs,
        desc=f"experts ({len(missing)} to train on {fabric.world_size} process(es))",
        unit="epoch",
        disable=not (job["progress"] and fabric.is_global_zero),
    )
    for expert in mine:
        module = settings.module(datamodule, expert).to(fabric.device)
        resume = buffer.load_partial(expert, module.expert_seed)
        bar.update(0 if resume is None else int(resume["epoch"]))
        bar.set_postfix(expert=expert)

        def after_epoch(m: ExpertTraining, opt: torch.optim.Optimizer, i: int = expert) -> None:
            done = len(m.recorded) - 1
            if every and done % every == 0 and done < settings.epochs:
                buffer.save_partial(i, m.partial_state(opt))
            bar.update(1)

        trajectory = module.fit_tensors(images, labels, resume, after_epoch)
        buffer.save(expert, trajectory, expert_seed(settings.seed, expert))
    bar.close()
    fabric.barrier()
    if fabric.world_size > 1 and torch.distributed.is_initialized():
        # End the group here: left to interpreter exit, a gloo thread can abort the process.
        torch.distributed.destroy_process_group()
