"""Fingerprints of the built-in methods: a few image updates each, saved bit for bit.

A refactor that must not change numbers runs this before and after and compares::

    python -m benchmarks.fingerprint save before.pt      # on the old commit
    python -m benchmarks.fingerprint save after.pt       # on the new one
    python -m benchmarks.fingerprint compare before.pt after.pt

Each method (DM, DC, DSA, DataDAM, MTT) makes a 2-images-per-class set of the bundled digits in
a few steps from one seed, single-threaded (the reduction order of a kernel may depend on the
thread count); saved are the images after every run, each step's loss and the set's
``SyntheticSet`` fields, the evaluation recipe of each set and the test accuracy of one ConvNet
trained 100 epochs on it. MTT trains its two experts first, with the same seed. The herding,
forgetting and k-center selections (a feature extractor trained 3 epochs) and the applications'
``condense_dm`` of three classes come last.
``compare`` passes only when every tensor is equal bit for bit (``torch.equal``) and every other
value is equal.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import lightning as L
import torch

from dcl import (
    ExpertSettings,
    RealDataModule,
    SynthesisModule,
    run_protocol,
    select_baseline,
    train_experts,
)
from dcl.applications.condense import class_subset, condense_dm
from dcl.evaluation.recipe import recipes

STEPS = 3
IPC = 2
# Small but complete settings per method: every code path of the method's loss runs.
RUNS: dict[str, dict] = {
    "dm": {"batch_real": 16},
    "dc": {"batch_real": 16, "outer_loop": 2, "inner_loop": 2},
    "dsa": {"batch_real": 16, "outer_loop": 2, "inner_loop": 2},
    "datadam": {"batch_real": 16},
    "mtt": {"batch_real": 16, "backbone": "ConvNetD1", "lr_img": 100.0},
}
# Each set's recipe for these networks (batch norm changes DC's augmentation).
RECIPE_MODELS = ("ConvNet", "ConvNetBN")
MTT_ARGS = {"syn_steps": 3, "expert_epochs": 2, "max_start_epoch": 2}


class _Losses(L.Callback):
    """Records the loss of every image update."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(trainer.callback_metrics["loss"]))


def _experts(data: RealDataModule, folder: Path) -> str:
    settings = ExpertSettings(network="ConvNetD1", epochs=3, batch_size=128)
    out = folder / "digits-ConvNetD1"
    train_experts(data, out, 2, settings, accelerator="cpu", progress=False)
    return str(out)


def run_method(method: str, folder: Path, buffer: str | None) -> dict:
    """One method's few steps on the digits: its images, losses and saved set."""
    L.seed_everything(0, verbose=False)
    data = RealDataModule("digits", cache_dir=str(folder / "cache"))
    settings = {"method": method, "ipc": IPC, "image_log_every_n_steps": 0, "autotune": False}
    settings.update(RUNS[method])
    if method == "mtt":
        settings["method_args"] = {**MTT_ARGS, "buffer": buffer}
    model = SynthesisModule(data.info, **settings)
    losses = _Losses()
    trainer = L.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        default_root_dir=str(folder / method),
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        callbacks=[losses],
    )
    trainer.fit(model, data)
    saved = model.synthetic_set()
    plan = recipes(saved, list(RECIPE_MODELS))
    trained = run_protocol(
        saved, data.test, ["ConvNet"], num_models=1, epochs=100, progress=False, autotune=False
    )
    return {
        "recipes": {name: dataclasses.astuple(recipe) for name, recipe in plan.items()},
        "accuracy": trained["ConvNet"],
        "images": model.images.detach().clone(),
        "losses": losses.losses,
        "set_images": saved.images,
        "set_labels": saved.labels,
        "set_method": saved.method,
        "set_lr": saved.lr,
    }


def run_baselines(folder: Path) -> dict:
    """The coreset selections whose extractor trains through the shared loop, on the digits."""
    train = RealDataModule("digits", cache_dir=str(folder / "cache"))
    train.setup("fit")
    found = {}
    for name in ("herding", "forgetting", "kcenter"):
        syn = select_baseline(name, train.train, IPC, seed=0, extractor_epochs=3)
        found[name] = {"images": syn.images, "labels": syn.labels}
    # The applications' DM condensation of a class subset (continual learning's step).
    syn = condense_dm(class_subset(train.train, [3, 5, 8]), IPC, STEPS, batch_real=16, seed=1)
    found["condense_dm"] = {"images": syn.images, "labels": syn.labels, "step": syn.step}
    return found


def save(path: Path) -> None:
    """Runs every method and saves the fingerprints to ``path``."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        buffer = _experts(RealDataModule("digits", cache_dir=str(folder / "cache")), folder)
        prints = {method: run_method(method, folder, buffer) for method in RUNS}
        prints.update(run_baselines(folder))
    torch.save(prints, path)
    for method in RUNS:
        print(f"{method}: losses {prints[method]['losses']}")


def compare(a: dict, b: dict) -> list[str]:
    """What differs between two fingerprint files (empty: bit-equal)."""
    problems = []
    for method in sorted(set(a) | set(b)):
        if method not in a or method not in b:
            problems.append(f"{method}: only in one file")
            continue
        for key, value in a[method].items():
            other = b[method].get(key)
            same = torch.equal(value, other) if torch.is_tensor(value) else value == other
            if not same:
                problems.append(f"{method}.{key}: {value!r:.80} != {other!r:.80}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("save").add_argument("path", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "save":
        save(args.path)
        return 0
    problems = compare(torch.load(args.before), torch.load(args.after))
    print("\n".join(problems) or "bit-equal: every image, label and loss")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
