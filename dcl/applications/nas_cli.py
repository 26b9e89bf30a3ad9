"""The command line of ``nas.py`` (every option also settable by ``--config``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse import ArgumentParser, Namespace

from dcl.applications.cli import (
    add_options,
    class_balanced_subset,
    command_parser,
    load_splits,
    run_command,
    split_list,
)
from dcl.applications.condense import condense_dm
from dcl.applications.nas import Candidate, TrainingSet, as_training_set, run_search, search_space
from dcl.baselines import random_real_set
from dcl.data import SyntheticSet
from dcl.evaluation.report import write_json
from dcl.evaluation.sources import check_matches
from dcl.plot import line_plot


def nas_parser() -> ArgumentParser:
    """The parser of ``nas.py``."""
    parser = command_parser(
        "nas.py",
        "Rank a grid of ConvNets by training on a condensed set and on a random subset of equal "
        "size; Spearman correlation and top-k overlap with full-data ranking.",
        "runs/nas",
    )
    add_options(
        parser,
        [
            ("--ipc", int, 10, "Proxy images per class."),
            ("--synthetic", str | None, None, "A saved set (else condensed by DM)."),
            ("--widths", str, "32,64,128", "Comma-separated."),
            ("--depths", str, "1,2,3", "Comma-separated."),
            ("--acts", str, "relu,sigmoid", "Activations."),
            ("--norms", str, "instancenorm,none", "Normalisations."),
            ("--pools", str, "avgpooling", "Poolings."),
            ("--proxy_epochs", int, 300, "Epochs on each proxy."),
            ("--full_epochs", int, 20, "Epochs on the full data."),
            (
                "--full_subset",
                int | None,
                None,
                "Train the reference on N random real images (N // classes per class) instead "
                "of the full training set, where the full set is unaffordable.",
            ),
            ("--proxy_augment", str, "dsa", "dsa or none."),
            ("--full_augment", str, "none", "dsa or none."),
            (
                "--test_subset",
                int | None,
                None,
                "Test every candidate on N random test images (N // classes per class, the "
                "same for all) instead of the whole test set, to save time on a CPU.",
            ),
            ("--backbone", str, "ConvNet", "DM embedding network."),
            (
                "--precision",
                Literal["32-true", "bf16-mixed"],
                "32-true",
                "Precision of the candidates' training and test, proxies and reference alike "
                "(Lightning Fabric's autocast; 16-mixed is not offered: the protocol's loop has "
                "no gradient scaler).",
            ),
            ("--top_k", int, 5, "Size of the top-k overlap."),
            ("--repeats", int, 1, "Networks per candidate and set (mean accuracy)."),
            (
                "--ensemble",
                bool | None,
                None,
                "Train a candidate's repeats together with vmap (default: on CUDA only).",
            ),
        ],
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
    train, test = load_splits(cfg, device)
    ints = [split_list(cfg[k], int) for k in ("widths", "depths")]
    candidates = search_space(*ints, *[split_list(cfg[k]) for k in ("acts", "norms", "pools")])
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
        test = class_balanced_subset(test, per_class, cfg.seed)
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
        precision=cfg.precision,
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
    document = run_command(nas_parser(), args, _nas)
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
