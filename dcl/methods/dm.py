"""DM, distribution matching (Zhao, Bilen, WACV 2023): its loss, defaults and evaluation hints."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dcl.augmentation import default_dsa_strategy
from dcl.calls import Forward, embed
from dcl.methods.base import MatchingMethod, Siamese, StepContext
from dcl.methods.hints import EvaluationHints
from dcl.methods.published import DC_DATASETS, IPCS, PublishedConfig, matching_model
from dcl.networks import has_batchnorm, uses_batchnorm
from dcl.objectives import mean_embedding_distance
from dcl.seeding import REAL

# The release's main_DM.py evaluates with DSA for 1000 epochs (evaluate_synset, batch 256).
DSA_EVALUATION = EvaluationHints(augment="dsa", epochs=1000)
STEPS = 20_000  # the paper's image updates, one fresh network each

# The one deliberate departure from the release (docs/evaluation.md, "Fidelity to the releases"):
# its main_DM.py keeps flip on every dataset, but digits must not be mirrored, the authors' own DM
# measured about 2 points lower with flip than without on MNIST at an equal reduced budget, and no
# DM number is published there.
NO_FLIP_NOTE = (
    "# dsa_strategy: no flip, as DSA uses here. The release's main_DM.py keeps flip for every\n"
    "# dataset; without it the authors' own DM measured about 2 points higher on MNIST, and no DM\n"
    "# number is published for this dataset. dsa_strategy: color_crop_cutout_flip_scale_rotate\n"
    "# runs the release's.\n"
)


def dm_loss(
    net: nn.Module,
    real: Tensor,
    syn: Tensor,
    augment: Siamese | None = None,
    class_chunk: int = 0,
    forward: Forward = embed,
) -> Tensor:
    """Distribution matching loss summed over classes.

    Args:
        net: Randomly initialised network with ``embed``; its weights receive no gradient.
        real: ``(K, n, C, H, W)`` real images per class.
        syn: ``(K, m, C, H, W)`` synthetic images per class (requires grad).
        augment: Siamese augmentation (same transform for a class's real and synthetic images).
        class_chunk: Classes per network forward, real and synthetic (0: all at once). The
            same loss for per-sample normalisation; smaller chunks measured faster on CPU
            (activations stay in cache), one big forward is best on GPU. Batch-norm networks
            need 0 (the published mixed forward).
        forward: Computes embeddings (default ``embed``; a compiled version is the same loss).

    Returns:
        Scalar loss.
    """
    if augment is not None:
        real, syn = augment(real, syn)
    chunk = class_chunk or real.shape[0]
    with torch.inference_mode():  # real embeddings are constants of the objective
        real_emb = _per_class(forward, net, real, chunk)  # (K, n, D)
    syn_emb = _per_class(forward, net, syn, chunk)  # (K, m, D)
    return mean_embedding_distance(real_emb, syn_emb).sum()


def class_chunk_for(net: nn.Module, device: torch.device, requested: int | None = None) -> int:
    """DM's classes per forward: ``requested``, else 1 on CPU and all (0) on GPU.

    Batch-norm networks always get all classes at once (the published mixed forward). One class
    at a time measured faster on CPU (activations stay in cache).
    """
    if has_batchnorm(net):
        return 0
    if requested is not None:
        return requested
    return 0 if device.type == "cuda" else 1


def _per_class(forward: Forward, net: nn.Module, x: Tensor, chunk: int) -> Tensor:
    """``(K, n, C, H, W)`` images -> ``(K, n, D)`` float32 embeddings, ``chunk`` classes a call."""
    k, n = x.shape[:2]
    parts = [forward(net, c.flatten(0, 1)) for c in x.split(chunk)]
    # float32 for the distance even under bf16 autocast: it is a difference of means.
    return at_least_float32(torch.cat(parts).view(k, n, -1))


def at_least_float32(x: Tensor) -> Tensor:
    """At least float32 (half-precision activations under autocast are promoted)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class DM(MatchingMethod):
    """Mean embeddings of real and synthetic images under a fresh frozen network each step.

    Args:
        class_chunk: Classes per network forward, real and synthetic (0: all at once);
            ``None``: one class per forward on CPU (measured faster), all at once on GPU.
            Batch norm always uses 0.
    """

    name = "dm"
    evaluation = DSA_EVALUATION
    bf16_measured = True  # results/precision: MNIST 1 ipc, 3 seeds
    init = "real"
    lr_img = 1.0  # the paper's; 10 for 100+ ipc on CIFAR-10 (set --model.lr_img for that)
    dsa_strategy = "published"
    momentum_net = 0.0
    published_settings = tuple(
        (dataset, ipc) for dataset in (*DC_DATASETS, "tinyimagenet") for ipc in IPCS
    )

    def __init__(self, class_chunk: int | None = None) -> None:
        super().__init__()
        if class_chunk is not None and class_chunk < 0:
            raise ValueError(f"class_chunk must be >= 0 (0: all at once), got {class_chunk}.")
        self.class_chunk = class_chunk

    @classmethod
    def published_config(cls, dataset: str, ipc: int) -> PublishedConfig:
        """The paper's setting: ConvNet, 256 real images per class, 20,000 updates, DSA."""
        model = matching_model(ipc, cls.init, cls.lr_img, default_dsa_strategy(dataset))
        note = NO_FLIP_NOTE if dataset in ("mnist", "svhn") else ""
        return PublishedConfig(model, STEPS, note=note)

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
