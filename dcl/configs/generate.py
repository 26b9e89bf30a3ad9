"""Writes dcl/configs/<method>/<dataset>_ipc<N>.yaml with the published settings.

The settings are those of docs/reference.md sections 3 to 6 (DC, DSA, DM) and 10 (MTT, DataDAM).

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
from dcl.trajectories.manifest import default_buffer_path

HERE = Path(__file__).parent
DATASETS = ("mnist", "fashionmnist", "svhn", "cifar10", "cifar100")
IPCS = (1, 10, 50)
OUTER_ITERATIONS = 1000  # DC/DSA: K fresh networks
DM_STEPS = 20_000


# The one deliberate departure from the release (docs/evaluation.md, "Fidelity to the releases"):
# its main_DM.py keeps flip on every dataset, but digits must not be mirrored, the authors' own DM
# measured about 2 points lower with flip than without on MNIST at an equal reduced budget, and no
# DM number is published there.
_NO_FLIP = (
    "# dsa_strategy: no flip, as DSA uses here. The release's main_DM.py keeps flip for every\n"
    "# dataset; without it the authors' own DM measured about 2 points higher on MNIST, and no DM\n"
    "# number is published for this dataset. dsa_strategy: color_crop_cutout_flip_scale_rotate\n"
    "# runs the release's.\n"
)
NOTES = {("dm", "mnist"): _NO_FLIP, ("dm", "svhn"): _NO_FLIP}


def config(method: str, dataset: str, ipc: int) -> dict:
    """One published setting as a LightningCLI config."""
    if method == "datadam":
        return datadam_config(dataset, ipc)
    if method == "mtt":
        return mtt_config(dataset, ipc)
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
    # No root: --data.root or $DCL_DATA_ROOT (else ./data) says where this machine keeps it.
    data = {"dataset": dataset, "download": False}
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
    write_datadam()
    write_mtt()


# DataDAM (Sajedi et al., ICCV 2023): the release's main_DataDAM.py defaults. Its get_network
# builds "ConvNet" with batch norm, for synthesis and for evaluation (eval_mode SS), and the
# authors, asked why reproductions with instance norm fall short, answer "use batch
# normalisation" (docs/reference.md section 10 and its sources).
DATADAM_DATASETS = ("cifar10", "cifar100")
DATADAM_NOTE = (
    "# The release's main_DataDAM.py: batch-norm ConvNet (its get_network's \"ConvNet\") for\n"
    "# synthesis and evaluation (eval_mode SS), batch_real 64, 20000 iterations, lr_img 1,\n"
    "# momentum 0.5, real init, attention power 1, task_balance 0.01; evaluation 1800 epochs\n"
    "# with DSA, batch 64 (dcl's recipe for DataDAM sets). Its CIFAR figures are reported to also\n"
    "# use ZCA whitening (--data.zca true; not stated in the paper, so off here) and the authors'\n"
    "# initial sets (Initial_Synthetic_Dataset), which dcl does not ship.\n"
)


def datadam_config(dataset: str, ipc: int) -> dict:
    """DataDAM's published setting as a LightningCLI config (DM's layout, the release's values)."""
    from dcl.synthesis.methods.datadam import DataDAM

    cfg = config("dm", dataset, ipc)
    cfg["trainer"]["default_root_dir"] = f"runs/datadam/{dataset}_ipc{ipc}"
    evaluation = cfg["trainer"]["callbacks"][1]["init_args"]
    evaluation.update(models="SS", epochs=1800, augment="dsa")
    cfg["model"].update(
        method=DataDAM.name,
        backbone="ConvNetBN",
        init=DataDAM.init,
        batch_real=64,
        lr_img=DataDAM.lr_img,
        method_args={"power": 1.0, "task_balance": 0.01},
        dsa_strategy="color_crop_cutout_flip_scale_rotate",
    )
    return cfg


def write_datadam() -> None:
    """Write DataDAM's configurations (the datasets it reports that dcl has)."""
    for dataset in DATADAM_DATASETS:
        for ipc in IPCS:
            path = HERE / "datadam" / f"{dataset}_ipc{ipc}.yaml"
            path.parent.mkdir(exist_ok=True)
            header = f"# DataDAM on {dataset}, {ipc} image(s) per class: published settings.\n"
            cfg = yaml.safe_dump(datadam_config(dataset, ipc), sort_keys=False)
            path.write_text(header + DATADAM_NOTE + cfg)


# MTT (Cazenavette et al., CVPR 2022): the paper's per-setting table (dcl.synthesis.methods.mtt,
# PUBLISHED). Each config reads the expert buffer train_experts.py writes by default for it.
MTT_NOTE = (
    "# Train the experts first (the release's buffer.py: 100 experts x 50 epochs, SGD 0.01, DSA):\n"
    "#   python train_experts.py --dataset {dataset} --network {backbone}{zca_flag}"
    " --out {buffer}\n"
    "# ZCA whitening: {zca}. Networks evaluate with the learned lr (syn_lr), DSA, 1000 epochs.\n"
)


def mtt_config(dataset: str, ipc: int) -> dict:
    """MTT's published setting as a LightningCLI config."""
    from dcl.synthesis.methods.mtt import ITERATIONS, MTT, PUBLISHED, PUBLISHED_BACKBONE

    setting = dict(PUBLISHED[(dataset, ipc)])
    zca, lr_img = setting.pop("zca"), setting.pop("lr_img")
    backbone = PUBLISHED_BACKBONE[dataset]
    method_args = {"buffer": default_buffer_path(dataset, zca, backbone), **setting}
    cfg = config("dm", dataset, ipc)
    trainer = cfg["trainer"]
    trainer.update(max_steps=ITERATIONS, default_root_dir=f"runs/mtt/{dataset}_ipc{ipc}")
    trainer["callbacks"][0]["init_args"]["every_n_train_steps"] = 500
    del cfg["model"]["batch_real"]  # MTT draws no real batches
    cfg["model"].update(
        method=MTT.name,
        method_args=method_args,
        backbone=backbone,
        init=MTT.init,
        lr_img=lr_img,
        dsa_strategy=MTT.dsa_strategy,
    )
    cfg["data"]["zca"] = zca
    return cfg


def write_mtt() -> None:
    """Write MTT's configurations (the datasets it reports that dcl has)."""
    from dcl.synthesis.methods.mtt import PUBLISHED, PUBLISHED_ACCURACY

    for dataset, ipc in PUBLISHED:
        cfg = mtt_config(dataset, ipc)
        args = cfg["model"]["method_args"]
        path = HERE / "mtt" / f"{dataset}_ipc{ipc}.yaml"
        path.parent.mkdir(exist_ok=True)
        header = f"# MTT on {dataset}, {ipc} image(s) per class: published settings"
        published = PUBLISHED_ACCURACY.get((dataset, ipc))
        header += f" (paper: {published} %).\n" if published else ".\n"
        zca = cfg["data"]["zca"]
        note = MTT_NOTE.format(
            dataset=dataset,
            backbone=cfg["model"]["backbone"],
            zca_flag=" --zca true" if zca else "",
            buffer=args["buffer"],
            zca="on" if zca else "off",
        )
        path.write_text(header + note + yaml.safe_dump(cfg, sort_keys=False))


if __name__ == "__main__":
    main()
