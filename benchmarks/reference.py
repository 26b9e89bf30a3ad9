"""A faithful reference step, written the way the authors' release writes it.

The authors' DC/DSA and DM code (``main.py``, ``main_DM.py``, ``utils.py``) loops over classes in
Python: per class it indexes a float32 copy of the whole training set, applies the siamese
augmentation to the real and the synthetic batch in two calls with the same draw, runs the
network once per batch, and (DC) takes ``torch.autograd.grad`` per class and compares gradients
layer by layer in a Python loop. Real embeddings and gradients are computed with autograd and
then detached. The inner loop of DC trains through a ``DataLoader`` over a ``TensorDataset``
and reads the loss back to the host every batch.

``benchmarks/reference_ops.py`` holds the parts written without ``dcl`` at all (DSA operators, the
evaluation loop). This module exists to measure and check the library against the release's
synthesis loop: random draws
(networks, real indices, augmentation parameters) come from the same seeded generators as
``SynthesisModule``'s, so both compute the same loss on the same step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from dcl.augmentation import DSA, DSAParams, default_dsa_strategy
from dcl.data import ClassImages
from dcl.methods import BUILTIN
from dcl.methods.dc import default_loops
from dcl.networks import build_network
from dcl.seeding import AUGMENT, BN_STATS, INIT, INNER, NETWORK, REAL, generator, step_seed

EPS = 0.000001


def _augment(dsa: DSA | None, params: DSAParams | None, x: Tensor, c: int) -> Tensor:
    """Class ``c``'s siamese draw applied to one batch (the authors' ``DiffAugment(x, seed)``)."""
    if dsa is None or params is None:
        return x
    return dsa.apply(x.unsqueeze(0), params.select(c)).squeeze(0)


def reference_dm_loss(
    net: nn.Module,
    real: Sequence[Tensor],
    syn: Sequence[Tensor],
    dsa: DSA | None = None,
    params: DSAParams | None = None,
) -> Tensor:
    """DM loss, class by class (``main_DM.py`` for networks without batch norm).

    Args:
        net: Frozen network with ``embed``.
        real: Per class ``(n, C, H, W)`` real images (a ``(K, n, ...)`` tensor works too).
        syn: Per class ``(m, C, H, W)`` synthetic images.
        dsa: Siamese augmentation, or ``None``.
        params: The drawn augmentation, one group per class.

    Returns:
        Scalar loss.
    """
    loss = torch.tensor(0.0, device=syn[0].device)
    for c in range(len(real)):
        img_real = _augment(dsa, params, real[c], c)
        img_syn = _augment(dsa, params, syn[c], c)
        output_real = net.embed(img_real).detach()
        output_syn = net.embed(img_syn)
        loss += torch.sum((torch.mean(output_real, dim=0) - torch.mean(output_syn, dim=0)) ** 2)
    return loss


def distance_wb(gwr: Tensor, gws: Tensor) -> Tensor:
    """The authors' per-layer distance: sum over output rows of ``1 - cos``; 1-D tensors give 0."""
    shape = gwr.shape
    if len(shape) == 4:  # conv, out x in*h*w
        gwr = gwr.reshape(shape[0], shape[1] * shape[2] * shape[3])
        gws = gws.reshape(shape[0], shape[1] * shape[2] * shape[3])
    elif len(shape) == 3:  # layernorm, C x h*w
        gwr = gwr.reshape(shape[0], shape[1] * shape[2])
        gws = gws.reshape(shape[0], shape[1] * shape[2])
    elif len(shape) == 1:  # batchnorm/instancenorm affine, biases
        return torch.tensor(0, dtype=torch.float, device=gwr.device)
    return torch.sum(
        1 - torch.sum(gwr * gws, dim=-1) / (torch.norm(gwr, dim=-1) * torch.norm(gws, dim=-1) + EPS)
    )


def match_loss(gw_syn: Sequence[Tensor], gw_real: Sequence[Tensor], metric: str) -> Tensor:
    """The authors' ``match_loss``: a Python loop over parameter tensors for ``ours``."""
    dis = torch.tensor(0.0, device=gw_real[0].device)
    if metric == "ours":
        for ig in range(len(gw_real)):
            dis += distance_wb(gw_real[ig], gw_syn[ig])
        return dis
    real_vec = torch.cat([g.reshape(-1) for g in gw_real], dim=0)
    syn_vec = torch.cat([g.reshape(-1) for g in gw_syn], dim=0)
    if metric == "mse":
        return torch.sum((syn_vec - real_vec) ** 2)
    if metric == "cos":
        return 1 - torch.sum(real_vec * syn_vec, dim=-1) / (
            torch.norm(real_vec, dim=-1) * torch.norm(syn_vec, dim=-1) + EPS
        )
    raise ValueError(f"unknown metric {metric!r}")


def reference_dc_loss(
    net: nn.Module,
    real: Sequence[Tensor],
    syn: Sequence[Tensor],
    metric: str = "ours",
    dsa: DSA | None = None,
    params: DSAParams | None = None,
) -> Tensor:
    """Gradient matching loss, class by class (``main.py``), for classes ``0..K-1``."""
    net_parameters = list(net.parameters())
    loss = torch.tensor(0.0, device=syn[0].device)
    for c in range(len(real)):
        img_real = _augment(dsa, params, real[c], c)
        img_syn = _augment(dsa, params, syn[c], c)
        lab_real = torch.ones(img_real.shape[0], device=img_real.device, dtype=torch.long) * c
        lab_syn = torch.ones(img_syn.shape[0], device=img_syn.device, dtype=torch.long) * c
        loss_real = F.cross_entropy(net(img_real), lab_real)
        gw_real = torch.autograd.grad(loss_real, net_parameters)
        gw_real = [g.detach().clone() for g in gw_real]
        loss_syn = F.cross_entropy(net(img_syn), lab_syn)
        gw_syn = torch.autograd.grad(loss_syn, net_parameters, create_graph=True)
        loss += match_loss(gw_syn, gw_real, metric)
    return loss


def _has_batchnorm(net: nn.Module) -> bool:
    return any("BatchNorm" in m._get_name() for m in net.modules())


class ReferenceSynthesis:
    """Authors'-style synthesis steps with the library's seeds (one call = one image update).

    Args:
        method: ``dm``, ``dc`` or ``dsa``.
        train: Real training images (only their float32 copy is used, as the release keeps).
        ipc: Images per class.
        batch_real: Real images per class per step.
        backbone: Network name.
        seed: The run seed (``SynthesisModule.seed``).
        metric: DC/DSA gradient distance.
        dsa_strategy: ``auto`` (published: none for DC) or ops joined by ``_``.
        init: ``real`` or ``noise``, drawn as the library draws it.
    """

    def __init__(
        self,
        method: str,
        train: ClassImages,
        ipc: int,
        batch_real: int,
        backbone: str = "ConvNet",
        seed: int = 0,
        metric: str = "ours",
        dsa_strategy: str = "auto",
        init: str = "real",
    ) -> None:
        self.method, self.train, self.ipc, self.batch_real = method, train, ipc, batch_real
        self.backbone, self.seed, self.metric = backbone, seed, metric
        self.info, self.device = train.info, train.device
        if dsa_strategy == "auto":
            dsa_strategy = "none" if method == "dc" else default_dsa_strategy(self.info.name)
        self.dsa = None if dsa_strategy == "none" else DSA(dsa_strategy)
        self.images_all = train.normalize(train.images)  # the whole set as float32 (authors)
        g = generator(step_seed(seed, 0, 0, INIT), self.device)
        if init == "real":
            start = self.images_all[train.sample_indices(ipc, g)].flatten(0, 1)
        else:
            k, c, s = self.info.num_classes, self.info.channels, self.info.image_size
            start = torch.randn(k * ipc, c, s, s, generator=generator(step_seed(seed, 0, 0, INIT)))
        self.image_syn = start.detach().clone().to(self.device).requires_grad_(True)
        self.label_syn = torch.arange(self.info.num_classes, device=self.device)
        self.label_syn = self.label_syn.repeat_interleave(ipc)
        self.optimizer_img = torch.optim.SGD(
            [self.image_syn], lr=BUILTIN[method].lr_img, momentum=0.5
        )
        self.outer_loop, self.inner_loop = default_loops(ipc)
        self.net: nn.Module | None = None
        self.outer = -1

    def _network(self, index: int) -> nn.Module:
        g = generator(step_seed(self.seed, 0, index, NETWORK), self.device)
        i = self.info
        return build_network(
            self.backbone, i.channels, i.num_classes, i.image_size, generator=g, device=self.device
        )

    def _real(self, n: int, step: int, stream: int = REAL) -> list[Tensor]:
        """Per class, ``get_images(c, n)``: index the float32 copy with this step's draw."""
        g = torch.Generator(device=self.device).manual_seed(step_seed(self.seed, 0, step, stream))
        idx = self.train.sample_indices(n, g)
        return [self.images_all[idx[c]] for c in range(self.info.num_classes)]

    def _params(self, step: int) -> DSAParams | None:
        if self.dsa is None:
            return None
        g = generator(step_seed(self.seed, 0, step, AUGMENT), self.device)
        return self.dsa.sample(self.info.num_classes, g, device=self.device)

    def _syn(self) -> list[Tensor]:
        k = self.info.num_classes
        return [self.image_syn[c * self.ipc : (c + 1) * self.ipc] for c in range(k)]

    def step(self, step: int) -> float:
        """One image update (and DC's inner-loop training after it); returns the loss."""
        if self.method == "dm":
            net = self._network(step)
            net.train()
            for param in list(net.parameters()):
                param.requires_grad = False
            loss = reference_dm_loss(
                net, self._real(self.batch_real, step), self._syn(), self.dsa, self._params(step)
            )
        else:
            outer = step // self.outer_loop
            if outer != self.outer:
                self.net, self.outer = self._network(outer), outer
                # DC's original code used momentum 0.5; the release since its DSA commit none.
                momentum = 0.5 if self.method == "dc" else 0.0
                self.optimizer_net = torch.optim.SGD(
                    self.net.parameters(), lr=0.01, momentum=momentum
                )
            net = self.net
            if _has_batchnorm(net):
                net.train()
                # Running statistics from an independent draw, then frozen.
                net(torch.cat(self._real(16, step, BN_STATS), dim=0))
                for module in net.modules():
                    if "BatchNorm" in module._get_name():
                        module.eval()
            real = self._real(self.batch_real, step)
            loss = reference_dc_loss(
                net, real, self._syn(), self.metric, self.dsa, self._params(step)
            )
        self.optimizer_img.zero_grad()
        loss.backward()
        self.optimizer_img.step()
        loss_value = loss.item()
        if self.method != "dm" and step % self.outer_loop != self.outer_loop - 1:
            self._train_inner(step)
        return loss_value

    def _train_inner(self, step: int) -> None:
        """The release's ``epoch('train', ...)`` over the detached set, ``inner_loop`` times."""
        g = generator(step_seed(self.seed, 0, step, INNER), self.device)
        shuffle = generator(step_seed(self.seed, 0, step, INNER))
        data = TensorDataset(self.image_syn.detach().clone(), self.label_syn.clone())
        loader = DataLoader(data, batch_size=256, shuffle=True, num_workers=0, generator=shuffle)
        net = self.net
        for _ in range(self.inner_loop):
            net.train()
            loss_avg, acc_avg, num_exp = 0.0, 0, 0
            for img, lab in loader:
                if self.dsa is not None:
                    img = self.dsa.per_image(img, g)
                output = net(img)
                loss = F.cross_entropy(output, lab)
                n_b = lab.shape[0]
                loss_avg += loss.item() * n_b
                acc_avg += int((output.argmax(1).cpu() == lab.cpu()).sum())
                num_exp += n_b
                self.optimizer_net.zero_grad()
                loss.backward()
                self.optimizer_net.step()
