"""Command lines of ``continual.py`` and ``nas.py`` (every option also settable by ``--config``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from dcl.applications.condense import condense_dm
from dcl.applications.continual import METHODS, ContinualSettings, StepResult, run_continual
from dcl.applications.nas import Candidate, TrainingSet, as_training_set, run_search, search_space
from dcl.applications.plot import line_plot
from dcl.baselines import random_real_set, select_indices
from dcl.data import ClassImages, SyntheticSet, load_real
from dcl.evaluation.cli import check_matches, device_name, resolve_device
from dcl.evaluation.report import json_safe, write_json


def _common(parser: ArgumentParser, output: str) -> None:
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any options.")
    parser.add_argument("--dataset", type=str, default="digits", help="Registry name.")
    parser.add_argument("--data_root", type=str, default="data", help="Folder of the dataset.")
    parser.add_argument("--download", type=bool, default=False, help="Fetch via torchvision.")
    parser.add_argument("--cache_dir", type=str | None, default=None, help="Dataset cache.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of every random draw.")
    parser.add_argument("--device", type=str, default="auto", help="auto, cpu, cuda or cuda:N.")
    parser.add_argument(
        "--threads",
        type=int | None,
        default=None,
        help="CPU threads of torch (default: torch's choice). Use 1 on a shared machine: "
        "oversubscribed cores make small networks many times slower.",
    )
    parser.add_argument("--output", type=str, default=output, help="Folder for JSON and PNG.")
    parser.add_argument("--dm_iterations", type=int, default=20000, help="DM image updates.")
    parser.add_argument("--batch_real", type=int, default=256, help="DM real images per class.")


def _split(text: str, cast: type = str) -> list[Any]:
    return [cast(v.strip()) for v in str(text).split(",") if v.strip()]


def _load(cfg: Namespace, device: torch.device) -> tuple[ClassImages, ClassImages]:
    train, test = load_real(cfg.dataset, cfg.data_root, cfg.download, cfg.cache_dir)
    return train.to(device), test


def _run(
    parser: ArgumentParser,
    args: list[str] | None,
    body: Callable[[Namespace, torch.device], dict[str, Any]],
) -> dict[str, Any]:
    """Parse, set threads, run ``body``; usage errors for bad settings; add settings, version."""
    cfg = parser.parse_args(args)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        device = resolve_device(cfg.device)
        document = body(cfg, device)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    document["settings"].update(
        {k: v for k, v in cfg.as_dict().items() if k != "config"},
        device=str(device),
        device_name=device_name(device),
    )
    from dcl import __version__

    document["version"] = __version__
    return json_safe(document)


# ------------------------------------------------------------------------------- continual
def continual_parser() -> ArgumentParser:
    """The parser of ``continual.py``."""
    parser = ArgumentParser(
        prog="continual.py",
        description="Class-incremental learning with a condensed or selected memory (DM paper): "
        "per-step test accuracy on the classes seen so far, mean and std over class orders.",
    )
    _common(parser, "runs/continual")
    parser.add_argument("--steps", type=int, default=5, help="Number of steps T.")
    parser.add_argument(
        "--classes_per_step", type=int | None, default=None, help="Default: classes / steps."
    )
    parser.add_argument("--ipc", type=int, default=20, help="Memory images per class.")
    parser.add_argument(
        "--methods", type=str, default="dm,herding,random", help=f"Some of {', '.join(METHODS)}."
    )
    parser.add_argument("--orders", type=int, default=3, help="Number of seeded class orders.")
    parser.add_argument("--lr_img", type=float, default=1.0, help="DM image learning rate.")
    parser.add_argument("--epochs", type=int, default=1000, help="Epochs on the memory per step.")
    parser.add_argument("--network", type=str, default="ConvNet", help="Network trained.")
    parser.add_argument("--augment", type=str, default="dsa", help="dsa or none.")
    parser.add_argument("--extractor_epochs", type=int, default=10, help="Herding extractor.")
    parser.add_argument("--mask_unseen", type=bool, default=False, help="Mask unseen logits.")
    parser.add_argument("--tensorboard", type=str | None, default=None, help="TensorBoard dir.")
    return parser


def _continual(cfg: Namespace, device: torch.device) -> dict[str, Any]:
    train, test = _load(cfg, device)
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
        _split(cfg.methods),
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
    document = _run(continual_parser(), args, _continual)
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


# ------------------------------------------------------------------------------------- NAS
def nas_parser() -> ArgumentParser:
    """The parser of ``nas.py``."""
    parser = ArgumentParser(
        prog="nas.py",
        description="Rank a grid of ConvNets by training on a condensed set and on a random "
        "subset of equal size; Spearman correlation and top-k overlap with full-data ranking.",
    )
    _common(parser, "runs/nas")
    parser.add_argument("--ipc", type=int, default=10, help="Proxy images per class.")
    parser.add_argument(
        "--synthetic", type=str | None, default=None, help="A saved set (else condensed by DM)."
    )
    parser.add_argument("--widths", type=str, default="32,64,128", help="Comma-separated.")
    parser.add_argument("--depths", type=str, default="1,2,3", help="Comma-separated.")
    parser.add_argument("--acts", type=str, default="relu,sigmoid", help="Activations.")
    parser.add_argument("--norms", type=str, default="instancenorm,none", help="Normalisations.")
    parser.add_argument("--pools", type=str, default="avgpooling", help="Poolings.")
    parser.add_argument("--proxy_epochs", type=int, default=300, help="Epochs on each proxy.")
    parser.add_argument("--full_epochs", type=int, default=20, help="Epochs on the full data.")
    parser.add_argument(
        "--full_subset",
        type=int | None,
        default=None,
        help="Train the reference on N random real images (N // classes per class) instead of "
        "the full training set, where the full set is unaffordable.",
    )
    parser.add_argument("--proxy_augment", type=str, default="dsa", help="dsa or none.")
    parser.add_argument("--full_augment", type=str, default="none", help="dsa or none.")
    parser.add_argument(
        "--test_subset",
        type=int | None,
        default=None,
        help="Test every candidate on N random test images (N // classes per class, the same "
        "for all) instead of the whole test set, to save time on a CPU.",
    )
    parser.add_argument("--backbone", type=str, default="ConvNet", help="DM embedding network.")
    parser.add_argument("--top_k", type=int, default=5, help="Size of the top-k overlap.")
    parser.add_argument(
        "--repeats", type=int, default=1, help="Networks per candidate and set (mean accuracy)."
    )
    parser.add_argument(
        "--ensemble",
        type=bool | None,
        default=None,
        help="Train a candidate's repeats together with vmap (default: on CUDA only).",
    )
    return parser


def _nas(cfg: Namespace, device: torch.device) -> dict[str, Any]:
    for option in ("proxy_augment", "full_augment"):
        if cfg[option] not in ("dsa", "none"):
            raise ValueError(f"--{option} must be dsa or none, got '{cfg[option]}'.")
    if min(cfg.proxy_epochs, cfg.full_epochs, cfg.top_k, cfg.ipc, cfg.repeats) < 1:
        raise ValueError(
            "--ipc, --proxy_epochs, --full_epochs, --top_k and --repeats must be at least 1."
        )
    train, test = _load(cfg, device)
    ints = [_split(cfg[k], int) for k in ("widths", "depths")]
    candidates = search_space(*ints, *[_split(cfg[k]) for k in ("acts", "norms", "pools")])
    out = Path(cfg.output)
    if cfg.synthetic:
        syn = SyntheticSet.load(cfg.synthetic)
        check_matches(syn, test)
    else:
        print(f"Condensing {train.info.name} with DM: {cfg.ipc} ipc, {cfg.dm_iterations} steps")
        syn = condense_dm(
            train,
            cfg.ipc,
            cfg.dm_iterations,
            batch_real=cfg.batch_real,
            backbone=cfg.backbone,
            seed=cfg.seed,
            device=device,
        )
        syn.save(out / "synthetic.pt")
    start = time.perf_counter()
    random_set = random_real_set(train, syn.ipc, cfg.seed)
    random_set.config["condense_time_s"] = time.perf_counter() - start  # selection time
    proxies = {
        "synthetic": as_training_set(syn, cfg.proxy_epochs, cfg.proxy_augment),
        "random": as_training_set(random_set, cfg.proxy_epochs, cfg.proxy_augment),
    }
    if cfg.full_subset:
        full = random_real_set(train, max(1, cfg.full_subset // train.info.num_classes), cfg.seed)
        full = as_training_set(full, cfg.full_epochs, cfg.full_augment)
    else:
        images = train.normalize(train.images)
        full = TrainingSet(images, train.labels, cfg.full_epochs, cfg.full_augment)
    if cfg.test_subset:
        per_class = max(1, cfg.test_subset // test.info.num_classes)
        index = select_indices("random", test, per_class, seed=cfg.seed)[0].flatten()
        test = ClassImages(test.images[index], test.labels[index], test.info)
    print(f"{len(candidates)} candidates x {len(proxies) + 1} training sets on {device}")

    def report(candidate: Candidate, name: str, acc: float, seconds: float) -> None:
        print(f"{candidate.name:>24} {name:>9}: {acc:5.1f}% ({seconds:.1f} s)", flush=True)

    document = run_search(
        candidates,
        proxies,
        full,
        test,
        k=cfg.top_k,
        seed=cfg.seed,
        repeats=cfg.repeats,
        ensemble=cfg.ensemble,
        device=device,
        report=report,
    )
    document.update(dataset=train.info.name, settings={"synthetic_ipc": syn.ipc})
    for name, p in document["proxies"].items():
        print(
            f"{name:>9}: Spearman {p['spearman']:+.3f}, top-{document['k']} overlap "
            f"{p['top_k_overlap']:.2f}, {p['train_time_s']:.1f} s training "
            f"(full data: {document['full']['train_time_s']:.1f} s)"
        )
    return document


def nas_main(args: list[str] | None = None) -> dict[str, Any]:
    """Run ``nas.py``; writes ``nas.json`` and ``nas.png`` (proxy vs true accuracy)."""
    document = _run(nas_parser(), args, _nas)
    out = Path(document["settings"]["output"])
    rows, proxies = document["candidates"], document["proxies"]
    series = {
        f"{name} (rho {p['spearman']:+.2f})" if p["spearman"] is not None else name: (
            [r["accuracy"][name] for r in rows],
            [r["accuracy"]["full"] for r in rows],
        )
        for name, p in proxies.items()
    }
    line_plot(
        out / "nas.png",
        series,
        lines=False,
        title=f"Architecture search proxy on {document['dataset']}: {len(rows)} ConvNets",
        xlabel="proxy accuracy (%)",
        ylabel=f"reference accuracy (%), {document['full']['images']} real images",
    )
    print(f"Results: {write_json(document, out / 'nas.json')} and {out / 'nas.png'}")
    return document
