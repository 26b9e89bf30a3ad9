"""Writes dcl/configs/<method>/<dataset>_ipc<N>.yaml with the published settings.

Each built-in method declares its settings (``published_settings``, ``published_config``:
docs/reference.md sections 3 to 6 and 10); ``VARIANTS`` adds folders of a built-in method run
with another paper's settings (``tesla``: MTT at constant memory). This wraps them in what every
config shares: the trainer, checkpoints, the evaluation callback and the data section.

Run ``python -m dcl.configs.generate`` after changing a published setting; the YAML files are the
user-facing artefacts and are committed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from dcl.methods import BUILTIN, MTT, MatchingMethod
from dcl.methods.mtt.settings import TESLA
from dcl.methods.mtt.settings import published_config as trajectory_config
from dcl.methods.published import PublishedConfig

HERE = Path(__file__).parent
Source = Callable[[str, int], PublishedConfig]


def tesla(dataset: str, ipc: int) -> PublishedConfig:
    """TESLA's setting: MTT with ``memory: constant`` (``dcl.methods.mtt.settings.TESLA``)."""
    return trajectory_config(TESLA, dataset, ipc, MTT.init, MTT.dsa_strategy)


# Folder -> (the method that runs, its settings, their config parts), beside BUILTIN's own.
VARIANTS: dict[str, tuple[type[MatchingMethod], tuple[tuple[str, int], ...], Source]] = {
    "tesla": (MTT, tuple(TESLA.rows), tesla),
}


def sources() -> dict[str, tuple[type[MatchingMethod], tuple[tuple[str, int], ...], Source]]:
    """Every config folder: the built-in methods' published settings, then ``VARIANTS``."""
    own = {m: (c, c.published_settings, c.published_config) for m, c in BUILTIN.items()}
    return {**own, **VARIANTS}


def config(method: str, dataset: str, ipc: int) -> dict:
    """One published setting of config folder ``method`` as a LightningCLI config."""
    cls, _, source = sources()[method]
    published = source(dataset, ipc)
    # Epochs and augmentation follow the release's recipe per evaluation network (the set's
    # evaluation hints), unless the method's setting names them.
    evaluation = {
        "class_path": "dcl.evaluation.SynthesisEvaluation",
        "init_args": {"num_models": 5, "baseline": "random", **published.evaluation},
    }
    checkpoint = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"every_n_train_steps": published.checkpoint_every, "save_last": True},
    }
    trainer = {
        "accelerator": "auto",
        "devices": 1,
        "max_steps": published.steps,
        "log_every_n_steps": 50,
        "default_root_dir": f"runs/{method}/{dataset}_ipc{ipc}",
        "callbacks": [checkpoint, evaluation],
    }
    # No root: --data.root or $DCL_DATA_ROOT (else ./data) says where this machine keeps it.
    data = {"dataset": dataset, "download": False, **published.data}
    model = {"method": cls.name, **published.model}
    return {"seed_everything": 0, "trainer": trainer, "model": model, "data": data}


def header(method: str, dataset: str, ipc: int) -> str:
    """The comment lines a config starts with: what it is, the paper's figure, the method's note."""
    cls, _, source = sources()[method]
    published = source(dataset, ipc)
    paper = f" (paper: {published.paper} %)" if published.paper is not None else ""
    name = method.upper() if method in VARIANTS else cls.__name__
    first = f"# {name} on {dataset}, {ipc} image(s) per class: published settings"
    return f"{first}{paper}.\n{published.note}"


def main() -> None:
    """Write every published configuration of every config folder."""
    for method, (_, settings, _) in sources().items():
        for dataset, ipc in settings:
            path = HERE / method / f"{dataset}_ipc{ipc}.yaml"
            path.parent.mkdir(exist_ok=True)
            body = yaml.safe_dump(config(method, dataset, ipc), sort_keys=False)
            path.write_text(header(method, dataset, ipc) + body)


if __name__ == "__main__":
    main()
