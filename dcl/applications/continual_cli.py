"""The command line of ``continual.py`` (every option also settable by ``--config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse import ArgumentParser, Namespace

from dcl.applications.cli import add_options, command_parser, load_splits, run_command, split_list
from dcl.applications.continual import METHODS, ContinualSettings, StepResult, run_continual
from dcl.evaluation.report import write_json
from dcl.networks import NETWORK_NAMES
from dcl.plot import line_plot

# Every name, so ``--help`` lists the choices.
NETWORKS_HELP = ", ".join(NETWORK_NAMES) + ", or a class path."


def continual_parser() -> ArgumentParser:
    """The parser of ``continual.py``."""
    parser = command_parser(
        "continual.py",
        "Class-incremental learning with a condensed or selected memory (DM paper): per-step "
        "test accuracy on the classes seen so far, mean and std over class orders.",
        "runs/continual",
    )
    add_options(
        parser,
        [
            ("--steps", int, 5, "Number of steps T."),
            ("--classes_per_step", int | None, None, "Default: classes / steps."),
            ("--ipc", int, 20, "Memory images per class."),
            ("--methods", str, "dm,herding,random", f"Some of {', '.join(METHODS)}."),
            ("--orders", int, 3, "Number of seeded class orders."),
            ("--lr_img", float, 1.0, "DM image learning rate."),
            ("--epochs", int, 1000, "Epochs on the memory per step."),
            ("--network", str, "ConvNet", f"Network trained: {NETWORKS_HELP}"),
            ("--augment", Literal["dsa", "dc", "none"], "dsa", "Augmentation of memory training."),
            ("--extractor_epochs", int, 10, "Herding extractor."),
            ("--mask_unseen", bool, False, "Mask unseen logits."),
            ("--tensorboard", str | None, None, "TensorBoard dir."),
        ],
    )
    return parser


def _continual(cfg: Namespace, device: torch.device) -> dict[str, Any]:
    train, test = load_splits(cfg, device)
    settings = ContinualSettings(
        **{k: cfg[k] for k in ("ipc", "dm_iterations", "batch_real", "lr_img", "epochs")},
        **{k: cfg[k] for k in ("augment", "network", "extractor_epochs", "mask_unseen")},
        seed=cfg.seed,
        device=str(device),
    )
    writer = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(cfg.tensorboard)

    def report(method: str, order: int, r: StepResult) -> None:
        print(
            f"{method:>9} order {order} step {r.step}: +classes {r.new_classes} -> "
            f"{r.accuracy:5.1f}% on {len(r.seen_classes)} classes "
            f"(memory {len(r.memory_labels)} images, {r.memory_time_s:.1f}+{r.train_time_s:.1f} s)",
            flush=True,
        )
        if writer is not None:
            writer.add_scalar(f"{method}/order{order}", r.accuracy, len(r.seen_classes))

    document = run_continual(
        train,
        test,
        split_list(cfg.methods),
        cfg.steps,
        cfg.classes_per_step,
        cfg.orders,
        settings,
        report,
    )
    seen = document["classes_seen"]
    for method, res in document["methods"].items():
        row = "  ".join(f"{m:5.1f}+-{s:4.1f}" for m, s in zip(res["mean"], res["std"], strict=True))
        print(f"{method:>9}: {row}")
        if writer is not None:
            for n, mean in zip(seen, res["mean"], strict=True):
                writer.add_scalar(f"{method}/mean", mean, n)
    if writer is not None:
        writer.close()
    return document


def continual_main(args: list[str] | None = None) -> dict[str, Any]:
    """Run ``continual.py``; writes ``continual.json`` and ``continual.png`` to ``--output``."""
    document = run_command(continual_parser(), args, _continual)
    out = Path(document["settings"]["output"])
    seen, methods = document["classes_seen"], document["methods"]
    line_plot(
        out / "continual.png",
        {m: (seen, r["mean"]) for m, r in methods.items()},
        errors={m: r["std"] for m, r in methods.items()},
        title=f"Class-incremental {document['dataset']}, {document['settings']['ipc']} images "
        f"per class, {document['settings']['orders']} class order(s)",
        xlabel="number of classes seen",
        ylabel="test accuracy on seen classes (%)",
    )
    print(f"Results: {write_json(document, out / 'continual.json')} and {out / 'continual.png'}")
    return document
