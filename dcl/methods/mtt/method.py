"""MTT, matching training trajectories (Cazenavette, Wang, Torralba, Efros, Zhu, CVPR 2022)."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor, nn

from dcl.augmentation import DSA_STRATEGY_FULL
from dcl.data.registry import DatasetInfo
from dcl.methods.base import MatchingMethod, StepContext
from dcl.methods.hints import EvaluationHints
from dcl.methods.mtt.buffer import ExpertBuffer
from dcl.methods.mtt.labels import ExpertLabels, soft_label_step_loss
from dcl.methods.mtt.manifest import default_buffer_path
from dcl.methods.mtt.memory import checkpointed_unroll, constant_unroll
from dcl.methods.mtt.settings import PUBLISHED, published_config
from dcl.methods.mtt.student import unroll
from dcl.methods.published import PublishedConfig
from dcl.objectives import trajectory_distance
from dcl.seeding import EXPERT, STUDENT

# How the student's gradient is computed (``memory``): the whole unrolled graph (the release),
# TESLA's constant-memory approximation, or the exact gradient from N kept parameter vectors.
UNROLLS = {"unrolled": unroll, "constant": constant_unroll, "checkpointed": checkpointed_unroll}
# Soft labels (``soft_labels``): none (hard labels, MTT's and TESLA's CIFAR commands), or TESLA's
# expert labels.
SOFT_LABELS = (None, "expert")


@functools.lru_cache(maxsize=2)
def open_buffer(path: str) -> ExpertBuffer:
    """The expert buffer at ``path``, opened once per process (a method copy holds only the path).

    Raises:
        FileNotFoundError: No buffer there.
    """
    return ExpertBuffer(path)


def train_experts_command(info: DatasetInfo, backbone: str, zca: bool, path: str) -> str:
    """The ``train_experts.py`` command that makes the buffer a run needs."""
    flag = " --zca true" if zca else ""
    return f"python train_experts.py --dataset {info.name} --network {backbone}{flag} --out {path}"


def data_uses_zca(data: Any) -> bool:
    """Whether a data module serves ZCA-whitened images (its ``zca`` option)."""
    value = getattr(data, "zca", None)
    if value is None:
        value = dict(getattr(data, "hparams", {}) or {}).get("zca", False)
    return bool(value)


class MTT(ExpertLabels, MatchingMethod):
    """A student trained on the synthetic set should land where an expert on real data landed.

    The student takes ``syn_steps`` SGD steps from the expert's epoch ``t``; its target is the
    expert's epoch ``t + expert_epochs``.

    Each image update draws one expert trajectory and a start epoch ``t`` in
    ``[min_start_epoch, max_start_epoch)`` (stream ``EXPERT``), trains the student from the
    expert's parameters at ``t`` with the learnable step size ``syn_lr`` on minibatches of
    ``batch_syn`` synthetic images, each augmented with per-image DSA (stream ``STUDENT``), and
    returns ``trajectory_distance``. Images and ``syn_lr`` get their gradients through the whole
    unrolled training (or at the memory of one step: ``memory``); ``syn_lr`` has its own
    optimiser group (``lr_lr``; with the default SGD, momentum 0.5 as the release's two
    optimisers). Its value is saved in checkpoints and is the
    learning rate to evaluate the set with (``learned_lr``).

    The loss covers the whole set (one student sees every class), so ``multi_gpu shard_classes``
    is refused; under ``replicate`` each rank draws its own expert and start epoch and DDP
    averages the gradients of the images and of ``syn_lr``. ``compile`` and ``channels_last``
    have no effect (the student runs through ``torch.func.functional_call``, and double backward
    through a compiled graph is unsupported); float16 is refused (the student's gradients have no
    scaler), bfloat16 autocast (``--model.bf16 true``) is the user's choice, not measured.

    Args:
        buffer: Folder of the expert buffer (``dcl.methods.mtt.ExpertBuffer``, made by
            ``train_experts.py``); ``None``: its default, ``buffers/<dataset>[-zca]/<backbone>``.
        syn_steps: Student steps on synthetic data per update (the paper's N).
        expert_epochs: Expert epochs between start and target (M).
        max_start_epoch: Start epochs are drawn below it (T+).
        min_start_epoch: Lowest start epoch drawn.
        lr_teacher: Initial student learning rate ``syn_lr`` (the release's ``lr_teacher``).
        lr_lr: Learning rate of ``syn_lr``'s own optimiser group.
        batch_syn: Synthetic images per student step; ``None``: the whole set.
        memory: How the images' gradient is computed (``dcl.methods.mtt.memory``):
            ``unrolled`` keeps every student step's graph (memory linear in ``syn_steps``, the
            release); ``constant`` is TESLA's (Cui et al. 2023) gradient at the memory of one
            step, an approximation that drops the Hessian chain between steps (equal for one
            step); ``checkpointed`` is the exact gradient at one step's graph plus
            ``syn_steps`` flat parameter vectors. All three compute the same loss; the last two
            take about one more network forward and backward per student step.
        soft_labels: ``None`` (hard labels: the default, MTT's and TESLA's CIFAR commands) or
            ``"expert"``, TESLA's soft labels (its release's ``--teacher_label``, used for
            ImageNet-1K): a real initialisation draws only images the labelling expert predicts
            correctly (``labels.draw_correct``), every image's label is that expert's logits on
            the initial image (a buffer, saved in checkpoints and in the set's ``soft_labels``),
            and the student trains on them with ``soft_label_loss`` at ``label_temperature``.
            The labelling expert is the buffer's first complete expert at ``label_epoch``. The
            labels are fixed, not learned (the release learns none). The release relabels the
            current images at every update with the drawn trajectory's target epoch; here one
            expert labels the initial images once, so the saved set's labels are what synthesis
            used.
        label_epoch: The labelling expert's epoch; ``None``: its last.
        label_temperature: Temperature of the student's soft-label loss; 1, as the release
            (softmax targets and cross-entropy: the same gradient as KL at temperature 1).
    """

    name = "mtt"
    # Its evaluate_synset: DSA, epoch_eval_train 1000, batch 256 (and the learned syn_lr).
    evaluation = EvaluationHints(augment="dsa", epochs=1000)
    # The release's defaults (distill.py): real initialisation, lr_img 1000, and the full DSA
    # strategy on every dataset (per-image draws on each student batch).
    init = "real"
    lr_img = 1000.0
    dsa_strategy = DSA_STRATEGY_FULL
    float16 = False  # the unrolled student's gradients are not covered by the gradient scaler
    real_batches = False  # the expert trajectories stand for the real data
    network_calls = False  # the student runs through functional_call: no compile, no NHWC
    published_settings = tuple(PUBLISHED.rows)

    def __init__(
        self,
        buffer: str | None = None,
        syn_steps: int = 20,
        expert_epochs: int = 3,
        max_start_epoch: int = 25,
        min_start_epoch: int = 0,
        lr_teacher: float = 0.01,
        lr_lr: float = 1e-5,
        batch_syn: int | None = None,
        memory: str = "unrolled",
        soft_labels: str | None = None,
        label_epoch: int | None = None,
        label_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        problems = []
        if syn_steps < 1 or expert_epochs < 1:
            problems.append(f"syn_steps ({syn_steps}) and expert_epochs ({expert_epochs}) >= 1")
        if not 0 <= min_start_epoch < max_start_epoch:
            problems.append(
                f"0 <= min_start_epoch ({min_start_epoch}) < max_start_epoch ({max_start_epoch})"
            )
        if batch_syn is not None and batch_syn < 1:
            problems.append(f"batch_syn >= 1 or null (the whole set), got {batch_syn}")
        if lr_teacher <= 0 or lr_lr < 0:
            problems.append(f"lr_teacher > 0 ({lr_teacher}) and lr_lr >= 0 ({lr_lr})")
        if memory not in UNROLLS:
            problems.append(f"memory one of {', '.join(UNROLLS)}, got {memory!r}")
        if soft_labels not in SOFT_LABELS:
            problems.append(f"soft_labels null or 'expert', got {soft_labels!r}")
        if label_temperature <= 0 or (label_epoch is not None and label_epoch < 0):
            problems.append(f"label_temperature > 0 ({label_temperature}), label_epoch >= 0")
        if problems:
            raise ValueError("Invalid MTT settings: need " + "; ".join(problems) + ".")
        self.buffer, self.syn_steps, self.expert_epochs = buffer, syn_steps, expert_epochs
        self.min_start_epoch, self.max_start_epoch = min_start_epoch, max_start_epoch
        self.lr_lr, self.batch_syn, self.memory = lr_lr, batch_syn, memory
        self.syn_lr = nn.Parameter(torch.tensor(float(lr_teacher)))
        self.soft, self.label_epoch, self.label_temperature = (
            soft_labels,
            label_epoch,
            label_temperature,
        )
        if soft_labels is not None:  # filled by after_init; a checkpoint's shape is adopted on load
            self.register_buffer("label_logits", torch.empty(0, 0))
        self._run: tuple[DatasetInfo, str] | None = None  # (info, backbone) of on_setup
        self.zca = False  # whether the run's data is ZCA-whitened (on_setup reads it)
        self.validation: dict | None = None  # the run's validation split (on_setup reads it)
        self._checked: str | None = None  # the buffer path validated against this run
        self._experts: list[int] = []  # the complete experts found then (indices of load)

    # ------------------------------------------------------------ set-up
    def buffer_path(self, info: DatasetInfo, backbone: str, zca: bool) -> str:
        """The buffer this run reads: ``buffer``, else ``train_experts.py``'s default folder."""
        if self.buffer is not None:
            return str(self.buffer)
        return default_buffer_path(info.name, zca, backbone)

    def on_setup(self, data: Any, backbone: str, sharded: bool) -> None:
        """Called by ``SynthesisModule.setup``: refuse class sharding, check the buffer.

        Args:
            data: The run's data module (its ``info`` and ``zca`` option).
            backbone: The run's network name (the experts must be that network).
            sharded: Whether ``multi_gpu`` is ``shard_classes`` on several ranks.

        Raises:
            ValueError: Sharded, or the buffer does not fit the run (network, dataset, ZCA,
                epochs) or holds no expert yet.
            FileNotFoundError: No buffer at the path; the message gives the command making it.
        """
        if sharded:
            raise ValueError(self._shard_message())
        self.zca = data_uses_zca(data)
        # Experts trained on the run's validation images would leak them: the buffer must
        # hold out the same split (``validation_spec``: ``RealDataModule``'s).
        self.validation = getattr(data, "validation_spec", lambda: None)()
        self._checked = None  # a new fit checks again (the buffer may have grown)
        self._run = (data.info, backbone)
        self.check_buffer(data.info, backbone, self.zca)

    def open(self, path: str) -> ExpertBuffer:
        """The expert buffer at ``path`` (``open_buffer``: once per process)."""
        return open_buffer(path)

    def check_buffer(self, info: DatasetInfo, backbone: str, zca: bool) -> ExpertBuffer:
        """Open the buffer and check it against the run, once per fit.

        The complete experts found here are the ones drawn from until the next fit (a buffer
        still being trained does not change a run's draws midway).

        Raises:
            FileNotFoundError: No buffer at the path.
            ValueError: A network, dataset or ZCA mismatch, no complete expert, or too few
                epochs for ``max_start_epoch - 1 + expert_epochs``.
        """
        path = self.buffer_path(info, backbone, zca)
        make = train_experts_command(info, backbone, zca, path)
        try:
            experts = self.open(path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"MTT matches expert trajectories and there is no expert buffer at '{path}'. "
                f"Train the experts first: {make} (or point --model.method_args "
                "'{\"buffer\": DIR}' at an existing buffer)."
            ) from None
        if self._checked == path:
            return experts
        experts.validate(backbone, info, zca, self.validation)
        last = self.max_start_epoch - 1 + self.expert_epochs
        if last > experts.epochs:
            raise ValueError(
                f"The expert buffer at '{path}' holds {experts.epochs} epochs, but "
                f"max_start_epoch {self.max_start_epoch} and expert_epochs {self.expert_epochs} "
                f"reach epoch {last}: lower them or train longer experts ({make} --epochs N)."
            )
        self._experts = list(getattr(experts, "experts", range(experts.num_experts)))
        if not self._experts:
            raise ValueError(f"The expert buffer at '{path}' holds no complete expert: {make}.")
        self._checked = path
        return experts

    def _shard_message(self) -> str:
        return (
            "MTT's loss is one student trained on the whole synthetic set, so "
            "--model.multi_gpu shard_classes cannot split it by class; use --model.multi_gpu "
            "replicate (each rank matches its own expert; gradients are averaged)."
        )

    # ------------------------------------------------------------ one step
    @classmethod
    def published_config(cls, dataset: str, ipc: int) -> PublishedConfig:
        """The paper's table (``PUBLISHED``), reading ``train_experts.py``'s default buffer."""
        return published_config(PUBLISHED, dataset, ipc, cls.init, cls.dsa_strategy)

    def loss(self, ctx: StepContext) -> Tensor:
        """The normalised distance between the unrolled student and the expert's target."""
        if ctx.classes.numel() != ctx.info.num_classes:
            raise ValueError(self._shard_message())
        experts = self.check_buffer(ctx.info, ctx.backbone, self.zca)
        g = ctx.generator(EXPERT)
        pick = int(torch.randint(len(self._experts), (1,), generator=g, device=g.device))
        expert = self._experts[pick]
        epochs = (self.min_start_epoch, self.max_start_epoch)
        start_epoch = int(torch.randint(*epochs, (1,), generator=g, device=g.device))
        trajectory = experts.load(expert, mmap=True)  # (epochs + 1, P), read lazily
        ends = trajectory[[start_epoch, start_epoch + self.expert_epochs]]  # reads 2 rows
        start, target = ends.to(ctx.device, ctx.images.dtype).unbind(0)  # (P,) each
        net = ctx.network(ctx.step).requires_grad_(False)  # the architecture; weights replaced
        student = self.student(ctx)
        run = UNROLLS[self.memory]
        labels = ctx.labels if self.soft is None else self.label_logits
        reached = run(net, start, ctx.images, labels, self.syn_lr, self.syn_steps, **student)
        return trajectory_distance(reached, start, target)

    def student(self, ctx: StepContext) -> dict[str, Any]:
        """The unroll's batch size, augmentation and generator for this step (stream STUDENT)."""
        g = ctx.generator(STUDENT)
        augment = None if ctx.dsa is None else (lambda x: ctx.dsa.per_image(x, g))
        student = {"batch_syn": self.batch_syn, "augment": augment, "generator": g}
        if self.soft is not None:
            student["loss"] = soft_label_step_loss(self.label_temperature)
        return student

    def param_groups(self) -> list[dict[str, Any]]:
        """``syn_lr`` in a group of its own, at learning rate ``lr_lr``."""
        return [{"params": [self.syn_lr], "lr": self.lr_lr}]

    def learned_lr(self) -> float:
        """The learned student learning rate: what a network trained on the set should use."""
        return float(self.syn_lr.detach())
