"""Writes dcl/configs/<method>/<dataset>_ipc<N>.yaml with the published settings (REFERENCE 3-6).

Run ``python -m dcl.configs.generate`` after changing a published setting; the YAML files are the
user-facing artefacts and are committed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dcl.augmentation import default_dsa_strategy
from dcl.synthesis.settings import (
    DEFAULT_INIT,
    DEFAULT_LR_IMG,
    DEFAULT_MOMENTUM_NET,
    default_loops,
)

HERE = Path(__file__).parent
DATASETS = ("mnist", "fashionmnist", "svhn", "cifar10", "cifar100")
IPCS = (1, 10, 50)
OUTER_ITERATIONS = 1000  # DC/DSA: K fresh networks
DM_STEPS = 20_000


# The one deliberate departure from the release (README, "Fidelity"): its main_DM.py keeps flip on
# every dataset, but digits must not be mirrored, the authors' own DM measured about 2 points lower
# with flip than without on MNIST at an equal reduced budget, and no DM number is published there.
_NO_FLIP = (
    "# dsa_strategy: no flip, as DSA uses here. The release's main_DM.py keeps flip for every\n"
    "# dataset; without it the authors' own DM measured about 2 points higher on MNIST, and no DM\n"
    "# number is published for this dataset. dsa_strategy: color_crop_cutout_flip_scale_rotate\n"
    "# runs the release's.\n"
)
NOTES = {("dm", "mnist"): _NO_FLIP, ("dm", "svhn"): _NO_FLIP}


def config(method: str, dataset: str, ipc: int) -> dict:
    """One published setting as a LightningCLI config."""
    outer, inner = default_loops(ipc)
    steps = DM_STEPS if method == "dm" else OUTER_ITERATIONS * outer
    model = {
        "method": method,
        "ipc": ipc,
        "backbone": "ConvNet",
        "init": DEFAULT_INIT[method],
        "batch_real": 256,
        "lr_img": DEFAULT_LR_IMG[method],
        "momentum_img": 0.5,
        "image_log_every_n_steps": 500,
    }
    if method != "dm":
        model.update(
            outer_loop=outer,
            inner_loop=inner,
            lr_net=0.01,
            momentum_net=DEFAULT_MOMENTUM_NET[method],
            metric="ours",
        )
    if method != "dc":
        model["dsa_strategy"] = default_dsa_strategy(dataset)
    # Epochs and augmentation follow the release's recipe per evaluation network (section 6:
    # 1000 epochs with augmentation, 300 without; crop_noise for batch-norm networks on DC sets).
    evaluation = {
        "class_path": "dcl.evaluation.SynthesisEvaluation",
        "init_args": {"num_models": 5, "baseline": "random"},
    }
    checkpoint = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"every_n_train_steps": 1000, "save_last": True},
    }
    trainer = {
        "accelerator": "auto",
        "devices": 1,
        "max_steps": steps,
        "log_every_n_steps": 50,
        "default_root_dir": f"runs/{method}/{dataset}_ipc{ipc}",
        "callbacks": [checkpoint, evaluation],
    }
    data = {"dataset": dataset, "root": "data", "download": False}
    return {"seed_everything": 0, "trainer": trainer, "model": model, "data": data}


def main() -> None:
    """Write every published configuration."""
    settings = [(m, d, i) for m in ("dc", "dsa", "dm") for d in DATASETS for i in IPCS]
    settings += [("dm", "tinyimagenet", i) for i in IPCS]
    for method, dataset, ipc in settings:
        path = HERE / method / f"{dataset}_ipc{ipc}.yaml"
        path.parent.mkdir(exist_ok=True)
        header = f"# {method.upper()} on {dataset}, {ipc} image(s) per class: published settings.\n"
        header += NOTES.get((method, dataset), "")
        path.write_text(header + yaml.safe_dump(config(method, dataset, ipc), sort_keys=False))


if __name__ == "__main__":
    main()
