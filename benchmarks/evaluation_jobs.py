"""One measurement each for ``benchmarks.evaluation_speed``: our evaluation or the release's loop.

``run_job`` runs a measurement in this process or in a fresh one (``python -m
benchmarks.evaluation_speed --worker JOB``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks import reference_ops
from benchmarks.common import (
    RandomDataModule,
    fresh_autotune_cache,
    now,
    resolve_device,
    run_worker,
    sync,
)
from dcl.augmentation import DSA, dc_augment
from dcl.data import ClassImages, RealDataModule, SyntheticSet
from dcl.evaluation.autotune import choose_paths
from dcl.evaluation.protocol import recipes, run_protocol
from dcl.evaluation.recipe import Recipe
from dcl.networks import build_network
from dcl.seeding import AUGMENT, NETWORK, generator, step_seed

TEST_BATCH = 256  # the release's test loader


@dataclasses.dataclass
class Job:
    """One measurement: ``kind`` is ours or reference."""

    kind: str
    shape: str
    ipc: int
    model: str
    augment: str
    epochs: int
    num_models: int
    method: str
    seed: int
    device: str
    data_root: str | None = None
    threads: int | None = None


def make_set(job: Job, device: torch.device) -> tuple[SyntheticSet, ClassImages, Recipe]:
    """``ipc`` images per class as the set, the test split and the recipe.

    Real images of ``data_root``, else random ones of the shape; digits are always real (they
    come with scikit-learn), so the two sides' accuracies can be compared.
    """
    if job.shape == "digits":
        data = RealDataModule("digits", seed=job.seed)
    elif job.data_root is None:
        data = RandomDataModule(job.shape, seed=job.seed)
    else:
        name = {"cifar10": "imagefolder"}.get(job.shape, job.shape)
        data = RealDataModule(name, root=job.data_root, seed=job.seed)
    data.setup()
    images = data.train.sample(job.ipc, torch.Generator().manual_seed(job.seed)).flatten(0, 1)
    labels = torch.arange(data.info.num_classes).repeat_interleave(job.ipc)
    syn = SyntheticSet(images, labels, data.info, job.ipc, job.method, backbone=job.model)
    recipe = recipes(syn, [job.model], job.augment, job.epochs)[job.model]
    return syn, data.test.to(device), recipe


@contextlib.contextmanager
def trained_images() -> Iterator[list[int]]:
    """Counts the images through a training loss (cross-entropy with gradients), on both sides."""
    count, plain = [0], F.cross_entropy

    def counted(logits: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if torch.is_grad_enabled():
            count[0] += logits.shape[0]
        return plain(logits, *args, **kwargs)

    F.cross_entropy = counted
    try:
        yield count
    finally:
        F.cross_entropy = plain


def run_ours(job: Job) -> dict[str, Any]:
    """``run_protocol`` with default flags, its probe on an empty cache included."""
    device = resolve_device(job.device)
    syn, test, recipe = make_set(job, device)
    models, args = [job.model], (job.num_models, recipe.epochs, recipe.augment)
    with (
        tempfile.TemporaryDirectory() as cache,
        fresh_autotune_cache(cache),
    ):
        sync(device)
        start = now()
        # What run_protocol does first with default flags; separate here to time it apart.
        paths = choose_paths(syn, models, *args, device, progress=False)
        sync(device)
        probe = now() - start
        with trained_images() as count:
            accuracies = run_protocol(
                syn, test, models, *args, seed=job.seed, device=device, paths=paths, progress=False
            )
        sync(device)
        seconds = now() - start
    return {
        "seconds": seconds,
        "probe_seconds": probe,
        "train_seconds": seconds - probe,
        "path": paths[job.model].record(),
        "trained_images": count[0],
        "accuracies": accuracies[job.model],
        **_facts(syn, recipe),
    }


def run_reference(job: Job) -> dict[str, Any]:
    """The release's ``evaluate_synset`` per network, then its test, on the same draws."""
    device = resolve_device(job.device)
    syn, test, recipe = make_set(job, device)
    info, images, labels = syn.info, syn.images.to(device), syn.labels.to(device)
    accuracies = []
    with trained_images() as count:
        sync(device)
        start = now()
        for i in range(job.num_models):
            seed = job.seed + i  # the streams EvaluationModule draws from
            init, draws = generator(step_seed(seed, 0, 0, NETWORK)), step_seed(seed, 0, 0, AUGMENT)
            net = build_network(
                job.model, info.channels, info.num_classes, info.image_size, generator=init
            ).to(device)
            g = generator(draws)

            def shuffle(n: int, g: torch.Generator = g) -> Tensor:
                return torch.randperm(n, generator=g).to(device)

            augment = _augmentation(recipe, g)
            reference_ops.evaluate_synset(net, images, labels, recipe.epochs, shuffle, augment)
            accuracies.append(_test(net, test, device))
        sync(device)
        seconds = now() - start
    return {
        "seconds": seconds,
        "trained_images": count[0],
        "accuracies": accuracies,
        **_facts(syn, recipe),
    }


def _augmentation(recipe: Recipe, g: torch.Generator) -> Callable[[Tensor], Tensor] | None:
    """The recipe's augmentation drawing from ``g`` (as EvaluationModule's)."""
    if recipe.augment == "dsa":
        dsa = DSA(recipe.dsa_strategy)
        return lambda x: dsa.per_image(x, g)
    if recipe.augment == "dc":
        return lambda x: dc_augment(x, g)
    if recipe.augment == "crop_noise":
        return lambda x: dc_augment(x, g, strategy="crop_noise")
    return None


@torch.no_grad()
def _test(net: torch.nn.Module, test: ClassImages, device: torch.device) -> float:
    """Top-1 accuracy in %, the release's way: normalised batches of 256."""
    net.eval()
    mean = torch.tensor(test.info.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(test.info.std, device=device).view(1, -1, 1, 1)
    correct = 0
    for start in range(0, len(test), TEST_BATCH):
        x = (test.images[start : start + TEST_BATCH].to(device).float() / 255 - mean) / std
        y = test.labels[start : start + TEST_BATCH].to(device)
        correct += int((net(x).argmax(1) == y).sum())
    return 100.0 * correct / len(test)


def _facts(syn: SyntheticSet, recipe: Recipe) -> dict[str, Any]:
    return {"recipe": dataclasses.asdict(recipe), "set_images": len(syn.images)}


WORKERS = {"ours": run_ours, "reference": run_reference}


def run_job(job: Job, isolate: bool) -> dict[str, Any]:
    """Run a measurement here, or in a fresh Python process."""
    if not isolate:
        if job.threads:
            torch.set_num_threads(job.threads)
        return WORKERS[job.kind](job)
    return run_worker("evaluation_speed", job)
