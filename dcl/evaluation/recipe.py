"""How the release trains an evaluation network on a set: augmentation, strategy, epochs, schedule.

docs/reference.md section 6, checked against the authors' ``evaluate_synset``, ``get_daparam`` and
``main.py``: the recipe depends on how the set's method evaluates (its ``EvaluationHints``, saved
with the set), the dataset and the evaluation network, so every published number is measured the
way it was measured there. No method is named here: a user's method declares its hints and its
sets train exactly as a built-in's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcl.augmentation import default_dsa_strategy
from dcl.data.registry import STATIC_INFO
from dcl.methods.hints import EvaluationHints
from dcl.methods.registry import evaluation_hints
from dcl.networks import is_class_path, uses_batchnorm

if TYPE_CHECKING:
    from dcl.data.synthetic import SyntheticSet

AUGMENTS: tuple[str, ...] = ("auto", "dsa", "dc", "crop_noise", "none")
# Written into result documents, so results measured before this protocol can be told apart.
PROTOCOL = "release-evaluate_synset"
# Epochs of the release: 1000 whenever the network trains with augmentation, else 300.
EPOCHS_AUGMENTED, EPOCHS_PLAIN = 1000, 300
# How a set trains: its hints, or those of a method (a name or class path).
Like = EvaluationHints | str


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
    how: Like, dataset: str, augment: str = "auto", network: str = "ConvNet"
) -> str:
    """Training augmentation of ``network`` on a set that trains as ``how`` says, from ``dataset``.

    ``auto``: the hints' augmentation: ``dsa``; ``none``; or ``release``, the DC release's rule:
    ``crop_noise`` on batch-norm networks (any dataset; the release names ConvNetBN, the only
    batch-norm network of its pools; a class path is built once to look for batch norm), DC's
    augmentation on MNIST, otherwise none. Coreset baselines train as ``PLAIN`` (none): to
    train a baseline like the condensed set it is compared with, pass that set's hints.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"Unknown augment '{augment}'; choose one of {', '.join(AUGMENTS)}.")
    if augment != "auto":
        return augment
    hints = _hints(how)
    if hints.augment != "release":
        return hints.augment
    if _batchnorm(network, dataset):
        return "crop_noise"
    return "dc" if dataset.lower() == "mnist" else "none"


def _hints(how: Like) -> EvaluationHints:
    return how if isinstance(how, EvaluationHints) else evaluation_hints(how)


def set_hints(syn: SyntheticSet) -> EvaluationHints:
    """How ``syn`` trains: the hints saved with it, else (older files) its method's."""
    if syn.evaluation:
        return EvaluationHints.from_dict(syn.evaluation)
    return evaluation_hints(syn.method)


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
    how: Like,
    dataset: str,
    network: str,
    augment: str = "auto",
    epochs: int | None = None,
    dsa_strategy: str | None = None,
) -> Recipe:
    """The release's recipe, with ``augment`` and ``epochs`` overridable (``None``: published).

    Args:
        how: The set's ``EvaluationHints``, or a method name or class path (its hints).
        dataset: The set's dataset.
        network: The evaluation network.
        augment: ``auto`` (the hints) or a mode of ``AUGMENTS``.
        epochs: Training epochs; ``None``: the hints', else 1000 with augmentation, 300 without.
        dsa_strategy: The strategy the set was made with; ``None``: the dataset's published one.
    """
    hints = _hints(how)
    mode = resolve_augment(hints, dataset, augment, network)
    strategy = (dsa_strategy or default_dsa_strategy(dataset)) if mode == "dsa" else None
    if strategy == "none":  # a DSA-method set made without augmentation (an ablation)
        mode, strategy = "none", None
    if epochs is None:  # hints with fixed epochs keep them whatever the augmentation
        epochs = hints.epochs
    if epochs is None:
        epochs = EPOCHS_PLAIN if mode == "none" else EPOCHS_AUGMENTED
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0 (training runs epochs 0..E), got {epochs}.")
    return Recipe(mode, epochs, strategy, hints.batch_size)


def recipes(
    syn: SyntheticSet,
    models: list[str],
    augment: str = "auto",
    epochs: int | None = None,
    like: Like | None = None,
) -> dict[str, Recipe]:
    """The recipe each architecture trains with on ``syn`` (``resolve_recipe`` for each).

    Args:
        syn: The set (its hints, dataset and DSA strategy).
        models: Evaluation networks.
        augment: ``auto`` or a mode of ``AUGMENTS``.
        epochs: ``None``: the recipe's.
        like: Train as these hints (or this method's sets) say instead of ``syn``'s own: a
            baseline trains like the condensed set it is compared with.
    """
    strategy = set_dsa_strategy(syn.config, syn.info.name)
    how = set_hints(syn) if like is None else like
    return {
        name: resolve_recipe(how, syn.info.name, name, augment, epochs, strategy) for name in models
    }
