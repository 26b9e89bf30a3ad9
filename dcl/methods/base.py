"""The interface of a matching method: one image update's inputs, its loss, its sets' evaluation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from dcl.augmentation import DSA
from dcl.calls import Forward
from dcl.data.registry import DatasetInfo
from dcl.methods.hints import PLAIN, EvaluationHints
from dcl.methods.published import PublishedConfig

# Applies one transform per class to both tensors: (real, syn) -> (real, syn).
Siamese = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclasses.dataclass(frozen=True)
class StepContext:
    """What a matching method gets for one image update; ``SynthesisModule`` builds it per step.

    Every draw is seeded by (run seed, rank, step or index, stream) (``dcl.seeding``), so a method
    that draws only through ``network``, ``real`` and ``generator`` resumes exactly, and its class
    shards add up to a single process's run.

    Attributes:
        step: Image updates so far, over every fit of the module.
        classes: ``(K,)`` classes this rank matches (all of them unless ``multi_gpu`` shards).
        syn: ``(K, m, C, H, W)`` their synthetic images, a differentiable view of ``images`` as
            they were before this step's update.
        images: ``(num_classes * m, C, H, W)`` the whole learnable set, class-major.
        labels: ``(num_classes * m,)`` its labels.
        info: Dataset facts (classes, channels, image size, name).
        backbone: Name of the network the run matches with (``--model.backbone``).
        batch_real: Real images per class asked for per step (``--model.batch_real``).
        network: ``network(index)``: a freshly initialised ``backbone`` on ``device``, seeded by
            (run seed, rank, index); DM passes the step, DC its outer iteration.
        real: ``real(n, classes, stream)``: ``(len(classes), n, C, H, W)`` real images of this
            step from random stream ``stream`` (``dcl.seeding.REAL`` for the matching batch).
        generator: ``generator(stream)``: a fresh generator of this step's stream ``stream``.
        siamese: This step's differentiable siamese augmentation of ``(real, syn)`` for
            ``classes`` (one transform per class), or ``None`` when the run does not augment.
        dsa: The run's augmentation (e.g. ``dsa.per_image`` in an inner loop), or ``None``.
        embed: Network call for embeddings: plain, compiled or NHWC as the module is set up.
        logits: Network call for logits, likewise.
        device: Where the images live.
    """

    step: int
    classes: Tensor
    syn: Tensor
    images: Tensor
    labels: Tensor
    info: DatasetInfo
    backbone: str
    batch_real: int
    network: Callable[[int], nn.Module]
    real: Callable[[int, Tensor, int], Tensor]
    generator: Callable[[int], torch.Generator]
    siamese: Siamese | None
    dsa: DSA | None
    embed: Forward
    logits: Forward
    device: torch.device


class MatchingMethod(nn.Module):
    """A matching objective: the loss of one image update, and what runs after the update.

    Subclass it, implement ``loss`` (built on the pure functions of ``dcl.objectives``), and
    name the class's dotted path as ``--model.method`` (or ``SynthesisModule(method=...)``). The
    constructor gets ``method_args``, plus those of the module's options in ``METHOD_OPTIONS``
    that it names (the built-in methods take theirs this way). An ``nn.Module``: its parameters
    join the image optimiser (``param_groups``), and its parameters, buffers and extra state
    (``get_extra_state``) are saved in checkpoints and restored on resume.

    The class attributes are published defaults, used where the module's option is unset.

    Attributes:
        name: Recorded as the set's ``method``. Default: the class's dotted path.
        evaluation: How networks train on the method's sets (augmentation, epochs, batch),
            written into every set it makes; evaluation reads it from the set. Default:
            ``PLAIN`` (no augmentation, 300 epochs, batch 256).
        init: Image initialisation when ``--model.init`` is unset: ``real`` or ``noise``.
        lr_img: Image learning rate when ``--model.lr_img`` is unset.
        dsa_strategy: What ``--model.dsa_strategy auto`` runs: ``published`` (the dataset's
            published strategy), ``none``, or DSA ops joined by ``_``.
        momentum_net: Inner-loop SGD momentum when ``--model.momentum_net`` is unset (recorded
            in the hyperparameters; a method with an inner loop takes it in its constructor).
        float16: Whether float16 mixed precision is safe; ``False`` when the method steps an
            optimiser of its own, which Lightning's gradient scaler does not cover.
        compile_needs: Values of the method's ``speed_options`` that ``compile`` needs to take
            effect (DC/DSA: ``batched`` false, as only the per-class loop calls ``ctx.logits``).
        bf16_measured: Whether sets made under bfloat16 autocast were measured as accurate as
            float32 ones (``results/precision``: DM and DSA); only then may autotune offer it,
            on hardware with bfloat16 units.
        published_settings: ``(dataset, ipc)`` settings the paper publishes; configs are
            generated for each from ``published_config``.
        network_calls: Whether the method's networks run through ``ctx.embed``/``ctx.logits``,
            where ``channels_last`` and ``compile`` act; ``False`` (MTT's functional student,
            DataDAM's hooked forwards): autotune does not probe those two.
        real_batches: Whether the method draws ``batch_real`` real images per class each step;
            ``False`` (MTT: experts stand for the real data) skips the check that every class
            has that many.
    """

    name: ClassVar[str] = ""
    evaluation: ClassVar[EvaluationHints] = PLAIN
    init: ClassVar[Literal["real", "noise"]] = "real"
    lr_img: ClassVar[float] = 1.0
    dsa_strategy: ClassVar[str] = "published"
    momentum_net: ClassVar[float] = 0.0
    float16: ClassVar[bool] = True
    compile_needs: ClassVar[dict[str, Any]] = {}
    bf16_measured: ClassVar[bool] = False
    network_calls: ClassVar[bool] = True
    real_batches: ClassVar[bool] = True
    published_settings: ClassVar[tuple[tuple[str, int], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = f"{cls.__module__}.{cls.__qualname__}"

    @classmethod
    def published_config(cls, dataset: str, ipc: int) -> PublishedConfig:
        """The paper's setting for ``dataset`` at ``ipc`` images per class, as config parts.

        Raises:
            NotImplementedError: The method publishes no settings (``published_settings``).
        """
        raise NotImplementedError(f"{cls.__name__} has no published settings.")

    def loss(self, ctx: StepContext) -> Tensor:
        """The scalar matching loss of this step; its gradient updates the images.

        Args:
            ctx: This step's images, draws and network calls.

        Returns:
            Scalar loss, summed over ``ctx.classes`` (class shards on other ranks add up).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement loss(ctx).")

    def on_setup(self, data: Any, backbone: str, sharded: bool) -> None:
        """Runs in ``SynthesisModule.setup``, before any step: check what the method needs.

        Args:
            data: The run's data module (``info``, its options such as ``zca``).
            backbone: The run's network name or class path.
            sharded: Whether ``multi_gpu`` is ``shard_classes`` on several ranks.

        Raises:
            ValueError: The run cannot work (say what to change); MTT checks its buffer here.
        """

    def initial_images(self, train: Any, ipc: int, generator: torch.Generator) -> Tensor:
        """``(K, ipc, C, H, W)`` the real images a real initialisation (``init real``) copies.

        Runs in ``SynthesisModule.setup``, after ``on_setup``, on a first fit only.

        Args:
            train: The train split (``dcl.data.images.ClassImages``).
            ipc: Images per class.
            generator: The run's initialisation stream.

        Returns:
            Default: ``train.sample(ipc, generator)``, distinct random images of every class;
            MTT with TESLA's soft labels draws among those its expert predicts correctly.
        """
        return train.sample(ipc, generator)

    def after_init(self, images: Tensor, labels: Tensor) -> None:
        """Runs once the images are initialised (real or noise), before any step; default none.

        Args:
            images: ``(num_classes * ipc, C, H, W)`` the initial set (MTT labels it with TESLA's
                expert when asked to).
            labels: ``(num_classes * ipc,)`` its class labels.
        """

    def soft_labels(self) -> Tensor | None:
        """``(num_classes * ipc, num_classes)`` soft-label logits saved with the set, or ``None``.

        Default ``None`` (hard labels); MTT's are TESLA's expert labels when asked for.
        """
        return None

    def after_update(self, ctx: StepContext) -> None:
        """Runs after the optimiser stepped the images (DC: its inner-loop network training).

        Args:
            ctx: The context the step's ``loss`` was computed with; read the updated images
                from ``ctx.images`` (``ctx.syn`` holds them as they were before the update).
        """

    def speed_options(self, ctx: StepContext) -> dict[str, list[Any]]:
        """Options that compute the same loss at different speeds, for ``--model.autotune``.

        Each name is an attribute of the method whose ``None`` means "automatic"; the first value
        listed is what ``None`` does (kept on near-ties, and whenever autotune is off). Autotune
        times the others on the run's first step and sets the fastest on options still ``None``.

        Args:
            ctx: The run's first step (device, network, shapes); nothing is drawn from it.

        Returns:
            Candidate values per attribute name; default: none.
        """
        return {}

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups added to the images' (default: the trainable parameters).

        Override to give a group its own options, e.g. ``[{"params": [p], "lr": 1e-5}]``.
        """
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params}] if params else []
