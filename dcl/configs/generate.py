"""Writes dcl/configs/<method>/<dataset>_ipc<N>.yaml with the published settings.

Each built-in method declares its settings (``published_settings``, ``published_config``:
docs/reference.md sections 3 to 6 and 10); this wraps them in what every config shares: the
trainer, checkpoints, the evaluation callback and the data section.

Run ``python -m dcl.configs.generate`` after changing a published setting; the YAML files are the
user-facing artefacts and are committed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dcl.methods import BUILTIN

HERE = Path(__file__).parent


def config(method: str, dataset: str, ipc: int) -> dict:
    """One published setting of the built-in ``method`` as a LightningCLI config."""
    cls = BUILTIN[method]
    published = cls.published_config(dataset, ipc)
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
    cls = BUILTIN[method]
    published = cls.published_config(dataset, ipc)
    paper = f" (paper: {published.paper} %)" if published.paper is not None else ""
    first = f"# {cls.__name__} on {dataset}, {ipc} image(s) per class: published settings"
    return f"{first}{paper}.\n{published.note}"


def main() -> None:
    """Write every published configuration of every built-in method."""
    for method, cls in BUILTIN.items():
        for dataset, ipc in cls.published_settings:
            path = HERE / method / f"{dataset}_ipc{ipc}.yaml"
            path.parent.mkdir(exist_ok=True)
            body = yaml.safe_dump(config(method, dataset, ipc), sort_keys=False)
            path.write_text(header(method, dataset, ipc) + body)


if __name__ == "__main__":
    main()
