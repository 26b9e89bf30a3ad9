"""A method's published settings as the parts of a config file: what ``dcl.configs`` writes.

Each built-in method lists the (dataset, images per class) settings its paper publishes
(``published_settings``) and returns one ``PublishedConfig`` per setting
(``published_config``); ``python -m dcl.configs.generate`` wraps them in the trainer, data and
evaluation sections every config shares. A user's method can do the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every image-per-class count the DC/DSA/DM papers publish.
IPCS: tuple[int, ...] = (1, 10, 50)
# The datasets of the DC/DSA papers' tables (DM adds Tiny ImageNet).
DC_DATASETS: tuple[str, ...] = ("mnist", "fashionmnist", "svhn", "cifar10", "cifar100")


@dataclass(frozen=True)
class PublishedConfig:
    """One published setting of a method, as its config file states it.

    Attributes:
        model: ``--model.*`` options, in the order the file lists them (the generator puts
            ``method`` first).
        steps: Image updates (``--trainer.max_steps``).
        note: Comment lines written under the file's first line (each starting with ``#``).
        paper: The paper's accuracy for this setting, quoted in the first line; ``None``: none.
        checkpoint_every: Steps between checkpoints.
        data: Extra ``--data.*`` options (e.g. ``zca``).
        evaluation: Extra options of the run's ``SynthesisEvaluation`` callback.
    """

    model: dict[str, Any]
    steps: int
    note: str = ""
    paper: float | None = None
    checkpoint_every: int = 1000
    data: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)


def matching_model(
    ipc: int, init: str, lr_img: float, dsa_strategy: str | None, **extra: Any
) -> dict[str, Any]:
    """The ``--model`` section the DC, DSA and DM releases share.

    ConvNet, 256 real images per class, image SGD with momentum 0.5; ``extra`` options follow,
    then ``dsa_strategy`` (``None``: left out).
    """
    model = {
        "ipc": ipc,
        "backbone": "ConvNet",
        "init": init,
        "batch_real": 256,
        "lr_img": lr_img,
        "momentum_img": 0.5,
        "image_log_every_n_steps": 500,
        **extra,
    }
    if dsa_strategy is not None:
        model["dsa_strategy"] = dsa_strategy
    return model
