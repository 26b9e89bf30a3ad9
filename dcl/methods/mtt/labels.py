"""TESLA's soft labels: an expert's logits on the synthetic images, its correct-prediction filter.

TESLA (Cui, Wang, Si, Hsieh, ICML 2023) labels each synthetic image with an expert network's
outputs (its release's ``--teacher_label``), and starts from real images the expert classifies
correctly, so that every label's largest entry is the image's own class. The pieces here are pure:
``expert_logits`` turns a flat parameter vector of a buffer into a network call,
``correct_mask`` is the filter, ``draw_correct`` draws the initial real images through it, and
``soft_label_step_loss`` is the student's loss on soft labels (``dcl.objectives``' KL);
``ExpertLabels`` puts them into ``MTT``'s set-up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dcl.data.registry import DatasetInfo
from dcl.methods.mtt.student import Loss, parameter_shapes, unflatten_parameters
from dcl.networks import build_network
from dcl.objectives import soft_label_loss

# (images) -> logits: a network with fixed weights, called without a graph.
Predict = Callable[[Tensor], Tensor]
# Images per expert forward while labelling or filtering (bounded memory whatever the set's size).
CHUNK = 256


def expert_logits(net: nn.Module, flat: Tensor) -> Predict:
    """The network ``net`` with the flat parameters ``flat`` (a buffer's row), as a call.

    Args:
        net: The architecture; its own parameter values are replaced, its buffers are used
            (batch-norm networks normalise with batch statistics in training mode: a buffer
            holds no running statistics).
        flat: ``(P,)`` parameters in ``net.named_parameters()`` order.

    Returns:
        ``images -> logits``, no graph kept, chunked by ``CHUNK`` images.
    """
    params = unflatten_parameters(parameter_shapes(net), flat.detach())

    def predict(images: Tensor) -> Tensor:
        with torch.no_grad():
            outs = [torch.func.functional_call(net, params, (x,)) for x in images.split(CHUNK)]
        return torch.cat(outs)

    return predict


def correct_mask(net: Predict, images: Tensor, labels: Tensor) -> Tensor:
    """``(N,)`` bool: whether ``net`` predicts each image's label (its arg-max logit).

    Args:
        net: ``images -> (N, K) logits`` (a module or ``expert_logits``'s call).
        images: ``(N, C, H, W)`` images, as the network sees them (normalised, whitened).
        labels: ``(N,)`` their classes.
    """
    with torch.no_grad():
        return net(images).argmax(dim=1) == labels


def draw_correct(
    train: Any, ipc: int, generator: torch.Generator, net: Predict, what: str = "the expert"
) -> Tensor:
    """``(K, ipc)`` global indices of real images per class, drawn among those ``net`` gets right.

    Each class's images are visited in a random order (``train.sample_indices`` over as many
    images as the smallest class has) and the first ``ipc`` correctly predicted ones are kept;
    the images are labelled in rounds of about ``CHUNK`` and the visit stops once every class has
    enough, so a large split is mostly never read.

    Args:
        train: The train split (``dcl.data.images.ClassImages``: ``sample_indices``, ``images``,
            ``counts``, ``normalize``).
        ipc: Images per class.
        generator: Draws the visiting order (the run's initialisation stream).
        net: ``images -> logits`` of the expert.
        what: Names the expert in the error.

    Raises:
        ValueError: A class has fewer than ``ipc`` images that ``net`` predicts correctly.
    """
    n = int(train.counts.min())
    order = train.sample_indices(n, generator)  # (K, n): each class in a random order
    k = order.shape[0]
    classes = torch.arange(k, device=order.device)
    masks: list[Tensor] = []
    for cols in order.split(max(1, CHUNK // k), dim=1):
        x = train.normalize(train.images[cols.reshape(-1)])
        y = classes.repeat_interleave(cols.shape[1])
        masks.append(correct_mask(net, x, y).view(cols.shape))
        if bool((torch.cat(masks, 1).sum(1) >= ipc).all()):
            break
    mask = torch.cat(masks, 1)  # (K, visited)
    found = mask.sum(1)
    if bool((found < ipc).any()):
        c = int(found.argmin())
        raise ValueError(
            f"{what} predicts only {int(found[c])} of {n} images of class {c} correctly, and "
            f"{ipc} per class are asked for: lower --model.ipc, pick another label_epoch, or "
            "turn soft_labels off."
        )
    keep = mask & (mask.long().cumsum(1) <= ipc)  # the first ipc correct ones of each class
    return order[:, : mask.shape[1]][keep].view(k, ipc)


def soft_label_step_loss(temperature: float) -> Loss:
    """The student's step loss on soft labels: ``soft_label_loss`` at ``temperature``, no T^2."""
    return functools.partial(soft_label_loss, temperature=temperature)


class ExpertLabels:
    """Mixin of ``MTT``: TESLA's expert labels at set-up (``soft_labels: expert``).

    Expects ``soft`` (``None`` or ``"expert"``), ``label_epoch``, ``zca``, ``_run`` (the
    ``(info, backbone)`` of ``on_setup``), ``_experts``, ``check_buffer`` and, when ``soft`` is
    set, the buffer ``label_logits`` on the ``MatchingMethod`` it is mixed into.
    """

    soft: str | None
    label_epoch: int | None
    label_logits: Tensor
    zca: bool
    _run: tuple[DatasetInfo, str] | None
    _experts: list[int]
    check_buffer: Callable[..., Any]

    def labelling_expert(self, device: torch.device) -> tuple[Predict, str]:
        """The expert that labels (``images -> logits``) and its name for messages."""
        if self._run is None:
            raise RuntimeError("MTT's soft labels need on_setup first (the run's buffer).")
        info, backbone = self._run
        experts = self.check_buffer(info, backbone, self.zca)
        epoch = experts.epochs if self.label_epoch is None else self.label_epoch
        if epoch > experts.epochs:
            raise ValueError(f"label_epoch {epoch} > the buffer's {experts.epochs} epochs.")
        flat = experts.load(self._experts[0], mmap=True)[epoch].to(device)
        net = build_network(
            backbone, info.channels, info.num_classes, info.image_size, device=device
        )
        return expert_logits(net, flat), f"Expert {self._experts[0]} at epoch {epoch}"

    def initial_images(self, train: Any, ipc: int, generator: torch.Generator) -> Tensor:
        """With soft labels, real images the labelling expert predicts correctly (TESLA)."""
        if self.soft is None:
            return super().initial_images(train, ipc, generator)  # type: ignore[misc]
        predict, what = self.labelling_expert(train.device)
        return train.normalize(train.images[draw_correct(train, ipc, generator, predict, what)])

    def after_init(self, images: Tensor, labels: Tensor) -> None:
        """With soft labels, the labelling expert's logits on the initial images."""
        if self.soft is not None:
            predict, _ = self.labelling_expert(images.device)
            self.label_logits = predict(images.detach()).float()

    def soft_labels(self) -> Tensor | None:
        """TESLA's expert labels (``(N, K)`` logits) when ``soft_labels`` is on, else ``None``."""
        return self.label_logits if self.soft is not None else None

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # The labels' shape is known from the run only: take the checkpoint's before copying.
        saved = state_dict.get(prefix + "label_logits")
        if self.soft is not None and saved is not None:
            self.label_logits = torch.empty_like(saved, device=self.label_logits.device)
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[misc]
