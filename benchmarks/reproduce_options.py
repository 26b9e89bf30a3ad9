"""The options of ``python -m benchmarks.reproduce``: what to reproduce and how far to scale it."""

from __future__ import annotations

import argparse
import json

from benchmarks.common import REPO

METHODS = ["dm", "dc", "dsa", "datadam", "mtt"]


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """``benchmarks.reproduce``'s command-line options (``description``: its help text)."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("method", choices=METHODS)
    p.add_argument("dataset", help="Dataset of the shipped config, e.g. mnist or cifar10.")
    p.add_argument("ipc", type=int, help="Images per class.")
    p.add_argument("--config", default=None, help="Config (default configs/METHOD/DATASET_ipcN).")
    p.add_argument("--steps", type=int, default=None, help="Synthesis steps (default published).")
    p.add_argument("--batch-real", type=int, default=None, help="Real images per class per step.")
    p.add_argument("--num-models", type=int, default=None, help="Evaluation networks (default 5).")
    p.add_argument("--epochs", type=int, default=None, help="Epochs per evaluation network.")
    p.add_argument(
        "--models",
        default=None,
        help="Evaluation pool or names (default S: backbone, batch norm -> instance norm).",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="Dataset folder (default: the config's, else $DCL_DATA_ROOT, else ./data).",
    )
    p.add_argument("--imagefolder", action="store_true", help="--data-root is an image folder.")
    p.add_argument("--cache-dir", default=None, help="Dataset cache (default $DCL_CACHE_DIR).")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda.")
    p.add_argument("--seed", type=int, default=None, help="Run seed (default: the config's).")
    p.add_argument(
        "--synthesis-seeds",
        type=int,
        default=1,
        help="Synthesise S sets (seeds seed..seed+S-1), evaluate --num-models on each and pool "
        "all S x M accuracies, as the papers do (DC/DSA 5 x 20, DM's README 5 x 5).",
    )
    p.add_argument("--baseline", default="random", help="Coreset baseline, or none.")
    p.add_argument("--max-synthesis-seconds", type=float, default=None)
    p.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="Further train_synthetic.py options, e.g. model.init=real.",
    )
    p.add_argument(
        "--method-args",
        type=json.loads,
        default=None,
        metavar="JSON",
        help="Update the config's model.method_args, e.g. '{\"max_start_epoch\": 2}'.",
    )
    mtt = p.add_argument_group("MTT's expert buffer")
    mtt.add_argument("--buffer", default=None, help="An existing buffer (default: train one).")
    mtt.add_argument("--experts", type=int, default=5, help="Experts to train (published 100).")
    mtt.add_argument(
        "--expert-epochs", type=int, default=50, help="Epochs per expert (published 50)."
    )
    mtt.add_argument(
        "--max-expert-seconds",
        type=float,
        default=None,
        help="Start no further expert once the next would overrun this (at least one).",
    )
    p.add_argument(
        "--select-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="Keep the set every STEPS steps and report final, validation-selected and test-max "
        "accuracy side by side (default: the config's every_n_steps; 0: final only).",
    )
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads.")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="Save <run-dir>/NAME/checkpoints/last.ckpt every STEPS synthesis steps and resume "
        "from it when rerun; sets already evaluated by the same command are read back from "
        "RESULTS/NAME_sets/ instead of evaluated again.",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile'd forwards in synthesis (model.compile) and evaluation.",
    )
    p.add_argument("--tag", default=None, help="Suffix of the result file's name.")
    p.add_argument("--results-dir", default=str(REPO / "results"))
    p.add_argument("--run-dir", default=None, help="Synthesis output (default runs/reproduce/).")
    return p
