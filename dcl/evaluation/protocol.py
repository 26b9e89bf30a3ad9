"""The published evaluation protocol: train fresh networks on a set, test on the real test set."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

import dcl.evaluation.ensemble as ensemble  # a module: tests spy on its functions
from dcl.calls import evaluation_forwards
from dcl.data.images import ClassImages
from dcl.data.splits import check_whitening
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.autotune import EvaluationPath, choose_paths, recheck_pace
from dcl.evaluation.learning_rate import LrOption, resolve_lr
from dcl.evaluation.module import EvaluationModule
from dcl.evaluation.progress import EvaluationProgress
from dcl.evaluation.recipe import AUGMENTS, Like, recipes, resolve_augment
from dcl.evaluation.summary import summarize
from dcl.networks import is_class_path
from dcl.objectives import DEFAULT_TEMPERATURE

__all__ = [
    "AUGMENTS",
    "EvaluationModule",
    "resolve_augment",
    "run_protocol",
    "run_protocol_on_splits",
    "summarize",
]


def run_protocol(
    syn: SyntheticSet,
    test: ClassImages,
    models: list[str],
    num_models: int = 3,
    epochs: int | None = None,
    augment: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    ensemble: bool | None = None,
    compile: bool | None = None,
    like: Like | None = None,
    shard: tuple[int, int] = (0, 1),
    channels_last: bool | None = None,
    autotune: bool = True,
    broadcast: Callable[[Any], Any] | None = None,
    paths: Mapping[str, EvaluationPath] | None = None,
    lr: LrOption = None,
    soft_labels: Tensor | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
) -> dict[str, list[float]]:
    """Train ``num_models`` fresh networks per architecture on ``syn``; test accuracies in %.

    Each architecture trains with the release's recipe (``recipes``): augmentation, DSA
    strategy and epochs follow the set's hints, dataset and network unless ``augment``/``epochs``
    override them; ``like`` trains a baseline like the set it is compared with.
    Models differ only by seed (``seed + i``). How they compute is a path per architecture
    (``dcl.evaluation.autotune``): through ``torch.compile`` (on CPU: needs a C++ compiler),
    on channels-last tensors, or with ``ensemble`` all together in one ``vmap``-ed pass (not
    batch-norm networks or class paths); the same maths, up to float rounding. Options left
    ``None`` are chosen by a short probe of throwaway networks (cached per machine and shape;
    one line each is printed with ``progress``), or with ``autotune=False`` take the defaults:
    plain, and the ensemble on CUDA only. No Trainer is created, so this is safe to call from
    inside a running Trainer (callbacks). ``shard=(rank, world_size)`` trains only models ``i``
    with ``i % world_size == rank`` (the others' accuracies are NaN): ranks share the work and
    ``gather_results`` joins the shares into what one process computes, since each model
    depends on its own seed only; rank 0 chooses the paths and ``broadcast`` shares them. A
    ZCA-whitened set (``syn.zca``) needs ``test`` whitened with the same fit.

    Args:
        syn: The set to train on (a condensed set or a baseline selection).
        test: Real test images, tested on every trained network.
        models: Network names or class paths (``dcl.evaluation.pools.expand_models``).
        num_models: Fresh networks per architecture.
        epochs: Training epochs; ``None``: the release's per-network recipe.
        augment: ``auto`` (the recipe), ``none``, ``dsa`` or ``dc``.
        seed: Model ``i`` draws everything from ``seed + i``.
        device: Where the networks train.
        progress: Show a progress bar.
        ensemble: Train an architecture's networks together (``None``: decided).
        compile: Train and test through ``torch.compile``'d forwards (``None``: decided).
        like: Train as these hints (or this method's sets) say (default: ``syn``'s hints).
        shard: ``(rank, world_size)``: train only this rank's models.
        channels_last: Train and test on channels-last tensors (``None``: decided).
        autotune: Decide the ``None`` options by a probe; else the defaults.
        broadcast: Rank 0's decision to every rank (a Fabric's or strategy's ``broadcast``).
        paths: Paths already chosen (``choose_paths``), instead of the options and probe.
        lr: SGD learning rate; ``None``/``auto``: the set's learned one, else 0.01 published.
        soft_labels: ``(N, K)`` logits to train on with ``dcl.objectives.soft_label_loss``
            (``syn.soft_labels``, or a teacher's); ``None``: ``syn.labels`` with cross-entropy.
        temperature: The soft labels' softmax temperature.

    Returns:
        Test accuracies in % per architecture, one per model (NaN for other ranks' models).
    """
    options = dict(
        num_models=num_models, epochs=epochs, augment=augment, seed=seed, device=device,
        progress=progress, ensemble=ensemble, compile=compile, like=like, shard=shard,
        channels_last=channels_last, autotune=autotune, broadcast=broadcast, paths=paths, lr=lr,
        soft_labels=soft_labels, temperature=temperature,
    )  # fmt: skip
    return run_protocol_on_splits(syn, {"test": test}, models, **options)["test"]


def run_protocol_on_splits(
    syn: SyntheticSet,
    splits: Mapping[str, ClassImages],
    models: list[str],
    num_models: int = 3,
    epochs: int | None = None,
    augment: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    ensemble: bool | None = None,
    compile: bool | None = None,
    like: Like | None = None,
    shard: tuple[int, int] = (0, 1),
    channels_last: bool | None = None,
    autotune: bool = True,
    broadcast: Callable[[Any], Any] | None = None,
    paths: Mapping[str, EvaluationPath] | None = None,
    lr: LrOption = None,
    soft_labels: Tensor | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
) -> dict[str, dict[str, list[float]]]:
    """``run_protocol`` with every trained network tested on each of several real splits.

    One training per network whatever the number of splits (a validation split and the test set
    score the very same networks). Args as ``run_protocol``, with ``splits`` (name -> images,
    at least one) in place of ``test``; the progress bar shows the first split's accuracy.

    Returns:
        Per split name, the accuracies in % per architecture, one per model.
    """
    if not splits:
        raise ValueError("splits must name at least one real split to test on.")
    for split in splits.values():
        check_whitening(syn, split)
    rate = resolve_lr(lr, syn)[0]
    if paths is None:
        tuned = dict(compile=compile, channels_last=channels_last, ensemble=ensemble)
        paths = choose_paths(
            syn, models, num_models, epochs, augment, device, like, **tuned,
            autotune=autotune, shard=shard, broadcast=broadcast, progress=progress,
        )  # fmt: skip
    plan = recipes(syn, models, augment, epochs, like)
    targets = syn.labels if soft_labels is None else soft_labels.float()
    images, labels = syn.images.to(device), targets.to(device)
    rank, world_size = shard
    mine = [i for i in range(num_models) if i % world_size == rank]
    results: dict[str, dict[str, list[float]]] = {split: {} for split in splits}
    bars = EvaluationProgress(len(models) * len(mine), progress)
    for name in models:
        r = plan[name]
        settings = {"augment": r.augment, "dsa_strategy": r.dsa_strategy, "lr": rate}
        settings.update(batch_size=r.batch_size, temperature=temperature)
        modules = [
            EvaluationModule(name, syn.info, r.epochs, seed=seed + i, **settings).to(device)
            for i in mine
        ]
        for split in splits:
            results[split][name] = [math.nan] * num_models
        tested = _train_and_test(name, modules, paths[name], images, labels, splits, bars)
        for i, accuracies in zip(mine, tested, strict=True):
            for split, accuracy in accuracies.items():
                results[split][name][i] = accuracy
    bars.close()
    return results


def _train_and_test(
    name: str,
    modules: list[EvaluationModule],
    path: EvaluationPath,
    images: Tensor,
    labels: Tensor,
    splits: Mapping[str, ClassImages],
    bars: EvaluationProgress,
) -> Iterator[dict[str, float]]:
    """Train ``modules`` on ``path``; yield each one's accuracy (%) per split as it is tested."""
    train, predict = evaluation_forwards(path.compile, path.channels_last)
    steps_per_epoch = math.ceil(len(images) / modules[0].hparams.batch_size)
    epochs = modules[0].hparams.epochs + 1

    def tested(module: EvaluationModule) -> dict[str, float]:
        accuracies = {
            split: 100.0 * module.test_images(real, forward=predict, pad=path.compile)
            for split, real in splits.items()
        }
        bars.tested(name, next(iter(accuracies.values())))
        return accuracies

    # Users' networks train one by one: their layers (dropout, state) are not vetted for vmap.
    batched = path.ensemble and len(modules) > 1 and not is_class_path(name)
    if batched and ensemble.can_ensemble(modules[0]):
        with bars.training(f"{name} x{len(modules)}", epochs) as epoch_done:
            ensemble.train_ensemble(modules, images, labels, epoch_done)
        yield from map(tested, modules)
        return
    for k, module in enumerate(modules):
        with bars.training(f"{name} {k + 1}/{len(modules)}", epochs) as epoch_done:
            module.fit_tensors(images, labels, train, epoch_done)
        if k == 0:  # a cached choice that this run finds far slower is probed anew
            recheck_pace(path, bars.epoch_seconds(), steps_per_epoch, len(modules))
        yield tested(module)
