"""Architecture search proxy: rank ConvNet variants by training them briefly on a small set.

Every candidate of a grid of ConvNets (width, depth, activation, normalisation, pooling; the
DC/DM papers searched such a grid) is trained from scratch on each proxy training set (the
condensed set, and a random real subset of the same size) and on the full training set (or a
class-balanced random subset of it where the full set is unaffordable, ``full_subset``). A proxy
is good when its ranking of the candidates agrees with the full-data ranking: we report the
Spearman rank correlation, the overlap of the top-k candidates, and the wall time spent.

Every set, the full-data reference included, trains with the evaluation protocol's
``EvaluationModule`` (SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 256, lr x0.1 after half
the epochs) on ``ConvNet(**candidate)``, in the protocol's own loop (``fit_tensors``), not a
``Trainer``: it is the release's schedule (the drop restarts momentum), it is what evaluates
condensed sets, so proxies and reference train alike, and its ``vmap`` ensemble
(``dcl.evaluation.ensemble``, on CUDA by default) trains the ``repeats`` of a candidate in one
pass, which a ``Trainer`` cannot (distinct candidates differ in shape: one after another).
Lightning ``Fabric`` supplies the device and the precision (``bf16-mixed``: training and test
under its autocast; ``32-true``: the plain loop). Progress: the ``report`` callback, called after
every candidate and set.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import lightning as L
import torch
from torch import Tensor, nn

from dcl.applications.continual import TEST_BATCH
from dcl.applications.ranking import spearman, top_k, top_k_overlap
from dcl.data.images import ClassImages
from dcl.data.registry import DatasetInfo
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation import EvaluationModule
from dcl.evaluation.ensemble import can_ensemble, train_ensemble
from dcl.fabric import AUTOCAST_ONLY, check_precision, concrete_device, single_device_fabric
from dcl.networks import ConvNet, reset_parameters
from dcl.networks.layers import ACTIVATIONS, NORMS, POOLINGS
from dcl.seeding import NETWORK, generator, step_seed

_SHORT = {
    "instancenorm": "in",
    "batchnorm": "bn",
    "layernorm": "ln",
    "groupnorm": "gn",
    "avgpooling": "ap",
    "maxpooling": "mp",
}


@dataclass(frozen=True)
class Candidate:
    """One ConvNet variant of the search space (the keyword arguments of ``ConvNet``)."""

    width: int
    depth: int
    act: str = "relu"
    norm: str = "instancenorm"
    pool: str = "avgpooling"

    @property
    def name(self) -> str:
        """Short unique name, e.g. ``w64-d3-relu-in-ap`` (``none`` norm/pool: ``nn``/``np``)."""
        norm = _SHORT.get(self.norm, "nn")
        pool = _SHORT.get(self.pool, "np")
        return f"w{self.width}-d{self.depth}-{self.act}-{norm}-{pool}"

    def build(
        self, info: DatasetInfo, seed: int = 0, device: torch.device | str = "cpu"
    ) -> nn.Module:
        """The network with weights drawn from ``seed`` (as ``build_network`` does)."""
        with torch.device("meta"):
            net = ConvNet(info.channels, info.num_classes, info.image_size, **asdict(self))
        net = net.to_empty(device="cpu")
        reset_parameters(net, generator(step_seed(seed, 0, 0, NETWORK)))
        return net.to(device)


def search_space(
    widths: Sequence[int] = (32, 64, 128, 256),
    depths: Sequence[int] = (1, 2, 3, 4),
    acts: Sequence[str] = ("relu",),
    norms: Sequence[str] = ("instancenorm",),
    pools: Sequence[str] = ("avgpooling",),
) -> list[Candidate]:
    """Every combination of the given values, in ``itertools.product`` order.

    Raises:
        ValueError: For an empty or repeated list, a non-positive width or depth, or an unknown
            activation, normalisation or pooling (the message lists the valid ones).
    """
    lists = {"widths": widths, "depths": depths, "acts": acts, "norms": norms, "pools": pools}
    allowed = {"acts": ACTIVATIONS, "norms": NORMS, "pools": POOLINGS}
    problems = []
    for key, values in lists.items():
        if not values or len(set(values)) != len(values):
            problems.append(f"{key} must be a non-empty list without repeats, got {list(values)}")
        if key in allowed and (bad := [v for v in values if v not in allowed[key]]):
            problems.append(f"unknown {key} {bad} (choose from {', '.join(allowed[key])})")
        if key in ("widths", "depths") and any(int(v) < 1 for v in values):
            problems.append(f"{key} must be positive, got {list(values)}")
    if problems:
        raise ValueError("Invalid search space: " + "; ".join(problems) + ".")
    return [
        Candidate(int(w), int(d), a, n, p) for w, d, a, n, p in itertools.product(*lists.values())
    ]


def candidate_module(
    candidate: Candidate,
    info: DatasetInfo,
    epochs: int,
    *,
    augment: str = "none",
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> EvaluationModule:
    """The protocol's ``EvaluationModule`` with ``candidate`` as its network.

    Optimiser, schedule, augmentation and seed streams are the protocol's; the weights come from
    the same seed stream a named network of the module would use.
    """
    if augment not in ("dsa", "none"):
        raise ValueError(f"augment must be 'dsa' or 'none', got '{augment}'")
    module = EvaluationModule(
        "ConvNet", info, epochs=epochs, batch_size=batch_size, augment=augment, seed=seed
    )
    module.net = candidate.build(info, seed)  # replaces the placeholder network
    return module.to(device)


def train_candidate(
    candidate: Candidate,
    images: Tensor,
    labels: Tensor,
    test: ClassImages,
    epochs: int,
    *,
    augment: str = "none",
    batch_size: int = 256,
    seed: int = 0,
    repeats: int = 1,
    ensemble: bool | None = None,
    device: torch.device | str = "cpu",
    precision: str = "32-true",
) -> list[float]:
    """Test accuracies (%) of ``repeats`` fresh ``candidate`` networks trained on ``images``.

    Network ``i`` is seeded with ``seed + i`` and trained by the evaluation protocol on the
    normalised ``images``. With ``ensemble`` the repeats train together in one ``vmap``-ed pass
    (``dcl.evaluation.ensemble``, same result as one after the other); ``None`` means on CUDA
    only (slower than a loop on CPU). Distinct candidates never share a pass: shapes differ.

    Args:
        candidate: The network to train.
        images: ``(N, C, H, W)`` normalised training images.
        labels: ``(N,)`` their labels.
        test: Real test split.
        epochs: The protocol's E (trains epochs 0..E).
        augment: ``dsa`` or ``none``.
        batch_size: Training batch size.
        seed: Network ``i`` draws its weights, shuffles and augmentations from ``seed + i``.
        repeats: Networks to train.
        ensemble: Train the repeats together (``None``: on CUDA only).
        device: Where to train (``cpu``, ``cuda``, ``cuda:N``).
        precision: ``32-true`` or ``bf16-mixed`` (Fabric's autocast over training and test).

    Returns:
        One test accuracy in % per network.
    """
    check_precision(precision, AUTOCAST_ONLY, "the protocol's loop has no gradient scaler")
    fabric = _fabric(concrete_device(device), precision)
    device = fabric.device
    settings = {"augment": augment, "batch_size": batch_size, "device": device}
    modules = [
        candidate_module(candidate, test.info, epochs, seed=seed + i, **settings)
        for i in range(repeats)
    ]
    images, labels = images.to(device), labels.to(device)
    ensemble = device.type == "cuda" if ensemble is None else ensemble
    with fabric.autocast():
        if ensemble and repeats > 1 and can_ensemble(modules[0]):
            train_ensemble(modules, images, labels)
        else:
            for module in modules:
                module.fit_tensors(images, labels)
        return [100.0 * module.test_images(test, batch_size=TEST_BATCH) for module in modules]


@functools.cache
def _fabric(device: torch.device, precision: str) -> L.Fabric:
    # Used for placement and autocast only, it holds no state between candidates; one per
    # setting also means Lightning announces a mixed precision once, not per candidate.
    return single_device_fabric(device, precision)


@dataclass
class TrainingSet:
    """A set the candidates are trained on: images, labels, epochs, augmentation."""

    images: Tensor
    labels: Tensor
    epochs: int
    augment: str = "none"
    prepare_time_s: float | None = None  # condensing or selecting it, when done in this run


def as_training_set(syn: SyntheticSet, epochs: int, augment: str) -> TrainingSet:
    """A ``SyntheticSet`` (condensed or selected) as a training set of the search."""
    return TrainingSet(syn.images, syn.labels, epochs, augment, syn.config.get("condense_time_s"))


def run_search(
    candidates: Sequence[Candidate],
    proxies: dict[str, TrainingSet],
    full: TrainingSet,
    test: ClassImages,
    *,
    k: int = 3,
    seed: int = 0,
    repeats: int = 1,
    ensemble: bool | None = None,
    device: torch.device | str = "cpu",
    precision: str = "32-true",
    report: Callable[[Candidate, str, float, float], None] | None = None,
) -> dict:
    """Train every candidate on every proxy and on ``full``; compare the rankings.

    Args:
        candidates: The search space.
        proxies: Name -> proxy training set (e.g. ``synthetic``, ``random``).
        full: The reference training set (full data or a large subset).
        test: Real test split all accuracies are measured on.
        k: Size of the top-k overlap.
        seed: Network ``i`` of every candidate is seeded with ``seed + i`` (the same
            initialisations and shuffles for every training set).
        repeats: Networks per candidate and training set; accuracy is their mean.
        ensemble: Train the repeats together (``train_candidate``); ``None``: on CUDA only.
        device: Where networks train.
        precision: ``32-true`` or ``bf16-mixed``, for every set (see ``train_candidate``).
        report: Called as ``report(candidate, set_name, accuracy, seconds)`` after each set.

    Returns:
        ``{"candidates": [{"name", "config", "accuracy": {SET: mean %}, "accuracies": {SET:
        [% per repeat]}, "time_s": {SET: s}}],
        "full": {"images", "epochs", "train_time_s", "best"}, "proxies": {NAME: {"images",
        "epochs", "spearman", "top_k_overlap", "train_time_s", "prepare_time_s", "best"}},
        "k"}``.
    """
    sets = {**proxies, "full": full}
    rows = []
    for candidate in candidates:
        row = {"name": candidate.name, "config": asdict(candidate)}
        row.update(accuracy={}, accuracies={}, time_s={})
        for name, data in sets.items():
            start = time.perf_counter()
            accs = train_candidate(
                candidate,
                data.images,
                data.labels,
                test,
                data.epochs,
                augment=data.augment,
                seed=seed,
                repeats=repeats,
                ensemble=ensemble,
                device=device,
                precision=precision,
            )
            row["time_s"][name] = time.perf_counter() - start
            row["accuracies"][name], row["accuracy"][name] = accs, sum(accs) / len(accs)
            if report is not None:
                report(candidate, name, row["accuracy"][name], row["time_s"][name])
        rows.append(row)
    k = min(k, len(rows))
    truth = [r["accuracy"]["full"] for r in rows]

    def summary(name: str, data: TrainingSet) -> dict:
        scores = [r["accuracy"][name] for r in rows]
        return {
            "images": len(data.labels),
            "epochs": data.epochs,
            "augment": data.augment,
            "train_time_s": sum(r["time_s"][name] for r in rows),
            "prepare_time_s": data.prepare_time_s,
            "best": rows[top_k(scores, 1)[0]]["name"],
        }

    document = {
        "candidates": rows,
        "k": k,
        "repeats": repeats,
        "full": summary("full", full),
        "proxies": {},
    }
    for name, data in proxies.items():
        scores = [r["accuracy"][name] for r in rows]
        rho = spearman(scores, truth) if len(rows) > 1 else float("nan")
        document["proxies"][name] = {
            **summary(name, data),
            "spearman": rho,
            "top_k_overlap": top_k_overlap(scores, truth, k),
        }
    return document
