"""How the release trains an evaluation network on a set: augmentation, strategy, epochs, schedule.

docs/reference.md section 6, checked against the authors' ``evaluate_synset``, ``get_daparam`` and
``main.py``: the recipe depends on the method that made the set, the dataset and the evaluation
network, so every published number is measured the way it was measured there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from dcl.augmentation import default_dsa_strategy
from dcl.data.registry import STATIC_INFO
from dcl.networks import is_class_path, uses_batchnorm

if TYPE_CHECKING:
    from dcl.data.synthetic import SyntheticSet

AUGMENTS: tuple[str, ...] = ("auto", "dsa", "dc", "crop_noise", "none")
# Written into result documents, so results measured before this protocol can be told apart.
PROTOCOL = "release-evaluate_synset"
# Epochs of the release: 1000 whenever the network trains with augmentation, else 300.
EPOCHS_AUGMENTED, EPOCHS_PLAIN = 1000, 300
LR_DROP = 0.1
# Methods whose sets the releases train with DSA: DSA and DM (Zhao and Bilen's releases), MTT
# (its evaluate_synset: DSA, epoch_eval_train 1000) and DataDAM (main_DataDAM.py: DSA, 1800).
DSA_METHODS: tuple[str, ...] = ("dsa", "dm", "mtt", "datadam")
# Their epochs where not EPOCHS_AUGMENTED, and training batches where not 256 (main_DataDAM.py:
# epoch_eval_train 1800, batch_train 64).
METHOD_EPOCHS: dict[str, int] = {"datadam": 1800}
METHOD_BATCH: dict[str, int] = {"datadam": 64}


@dataclass(frozen=True)
class Recipe:
    """What one evaluation network trains with.

    Attributes:
        augment: ``dsa`` (per-image DSA), ``dc`` (DC's MNIST crop/scale/rotate), ``crop_noise``
            (DC's recipe for batch-norm networks) or ``none``.
        epochs: The release's ``epoch_eval_train`` E: training runs epochs 0..E (E + 1 passes).
        dsa_strategy: DSA ops joined by ``_`` when ``augment`` is ``dsa``, else ``None``.
        batch_size: Training batch (the releases' ``batch_train``: 256; DataDAM's 64).
    """

    augment: str
    epochs: int
    dsa_strategy: str | None = None
    batch_size: int = 256


def resolve_augment(
    method: str, dataset: str, augment: str = "auto", network: str = "ConvNet"
) -> str:
    """Training augmentation of ``network`` on a set made by ``method`` from ``dataset``.

    ``auto``: DSA for sets of ``DSA_METHODS`` (DSA, DM, MTT, DataDAM); for DC sets
    ``crop_noise`` on batch-norm networks (any dataset; the release names ConvNetBN, the only
    batch-norm network of its pools; a class path is built once to look for batch norm), DC's
    augmentation on MNIST, otherwise none. Coreset
    baselines resolve to ``none``: to train a baseline like the condensed set it is compared with,
    pass that set's method.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"Unknown augment '{augment}'; choose one of {', '.join(AUGMENTS)}.")
    if augment != "auto":
        return augment
    if method in DSA_METHODS:
        return "dsa"
    if method != "dc":
        return "none"
    if _batchnorm(network, dataset):
        return "crop_noise"
    return "dc" if dataset.lower() == "mnist" else "none"


def _batchnorm(network: str, dataset: str) -> bool:
    """Whether ``network`` has batch norm: registry names by their ``BN``, class paths built.

    A class path is built at ``dataset``'s shape when the registry knows it (else 3x32x32, 10
    classes): a user's network is only known by what it contains.
    """
    if not is_class_path(network):
        return "BN" in network
    info = STATIC_INFO.get(dataset.lower())
    shape = (info.channels, info.num_classes, info.image_size) if info and info.channels else ()
    try:
        return uses_batchnorm(network, *shape)
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(
            f"Cannot build {network} to see whether it has batch norm, which decides how it trains "
            f"on a DC set ({err}); pass the augmentation explicitly (--augment)."
        ) from err


def set_dsa_strategy(config: dict, dataset: str) -> str:
    """The DSA strategy a set was synthesised with (its ``config``), ``auto`` resolved.

    Evaluation augments with the very strategy synthesis used (one ``args.dsa_strategy`` in the
    release), so the augmentation ablation keeps its meaning. A set without one (a coreset, an
    older file, DC) gets the dataset's published strategy.
    """
    strategy = config.get("dsa_strategy")
    if strategy in (None, "auto"):
        return default_dsa_strategy(dataset)
    return str(strategy)


def resolve_recipe(
    method: str,
    dataset: str,
    network: str,
    augment: str = "auto",
    epochs: int | None = None,
    dsa_strategy: str | None = None,
) -> Recipe:
    """The release's recipe, with ``augment`` and ``epochs`` overridable (``None``: published)."""
    mode = resolve_augment(method, dataset, augment, network)
    strategy = (dsa_strategy or default_dsa_strategy(dataset)) if mode == "dsa" else None
    if strategy == "none":  # a DSA-method set made without augmentation (an ablation)
        mode, strategy = "none", None
    if epochs is None:  # the releases train DSA-method sets 1000 epochs whatever the strategy
        plain = mode == "none" and method not in DSA_METHODS
        epochs = EPOCHS_PLAIN if plain else METHOD_EPOCHS.get(method, EPOCHS_AUGMENTED)
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0 (training runs epochs 0..E), got {epochs}.")
    return Recipe(mode, epochs, strategy, METHOD_BATCH.get(method, Recipe.batch_size))


def lr_drop_epoch(epochs: int) -> int:
    """The epoch after which the release multiplies the learning rate by 0.1: ``E // 2 + 1``."""
    return epochs // 2 + 1


def drop_learning_rate(optimizer: torch.optim.Optimizer) -> None:
    """Learning rate x0.1 and momentum restarted, as the release's freshly built SGD does."""
    for group in optimizer.param_groups:
        group["lr"] *= LR_DROP
    optimizer.state.clear()


def recipes(
    syn: SyntheticSet,
    models: list[str],
    augment: str = "auto",
    epochs: int | None = None,
    method: str | None = None,
) -> dict[str, Recipe]:
    """The recipe each architecture trains with on ``syn`` (``resolve_recipe`` for each)."""
    strategy = set_dsa_strategy(syn.config, syn.info.name)
    how = method or syn.method
    return {
        name: resolve_recipe(how, syn.info.name, name, augment, epochs, strategy) for name in models
    }
