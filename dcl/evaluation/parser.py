"""The command-line options of ``evaluate.py`` (every option also settable by ``--config``)."""

from __future__ import annotations

from typing import Literal

from jsonargparse import ActionConfigFile, ArgumentParser

from dcl.baselines import BASELINES
from dcl.baselines.specs import SPEC_EXAMPLE, SPEC_FORMAT
from dcl.evaluation.labels import LABEL_MODES
from dcl.evaluation.pools import POOLS
from dcl.evaluation.recipe import AUGMENTS
from dcl.evaluation.teacher import TEACHER_EPOCHS
from dcl.networks import NETWORK_NAMES
from dcl.objectives import DEFAULT_TEMPERATURE

OPTIONS = (
    "synthetic", "models", "num_models", "epochs", "augment", "data_root", "cache_dir",
    "device", "seed", "output", "baseline", "extractor", "extractor_epochs", "compile",
    "channels_last", "ensemble", "autotune", "devices", "num_nodes", "strategy", "precision",
    "lr",
)  # fmt: skip
# Soft labels, teachers and DD-Ranking's scores (kept apart: one line to merge).
# ``--protocol`` is recorded as ``evaluation_protocol``: ``protocol`` names the release's recipe.
LABEL_OPTIONS = ("labels", "teacher", "teacher_epochs", "temperature")


def build_parser() -> ArgumentParser:
    """The command-line parser of ``evaluate.py`` (every option also settable by ``--config``)."""
    parser = ArgumentParser(
        prog="evaluate.py",
        description="Train fresh networks on a synthetic set (or a coreset baseline) with the "
        "published protocol and report test accuracy: mean and std over models, per "
        "architecture, with a baseline beside it.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any options.")
    parser.add_argument(
        "--synthetic",
        type=str | list[str],
        required=True,
        help=f"A saved set (synthetic.pt) or a baseline spec {SPEC_FORMAT}, METHOD one of "
        f"{', '.join(BASELINES)}, e.g. {SPEC_EXAMPLE}; several (--synthetic a.pt b.pt SPEC) "
        "are evaluated under one protocol into one table, JSON, plot and TensorBoard HPARAMS "
        "runs beside --output (default evaluation/sets.json).",
    )
    parser.add_argument(
        "--models",
        type=str | None,
        default=None,
        help=f"Pool letter ({', '.join([*POOLS, 'S', 'SS'])}) or comma-separated network names "
        f"({', '.join(NETWORK_NAMES)}) or class paths of your own networks (mypkg.nets.MyNet); "
        "default S: the set's backbone with batch norm swapped for instance norm.",
    )
    parser.add_argument(
        "--num_models", type=int, default=5, help="Fresh networks per architecture."
    )
    parser.add_argument(
        "--epochs",
        type=int | None,
        default=None,
        help="The release's E per network (trains epochs 0..E); default: the published 1000 "
        "with augmentation, 300 without.",
    )
    parser.add_argument(
        "--augment",
        type=Literal[AUGMENTS],
        default="auto",
        help="Training augmentation: auto (the release's recipe per network: the set's own DSA "
        "strategy for DSA/DM sets; for DC sets crop_noise on batch-norm networks, dc on MNIST, "
        "else none), dsa, dc, crop_noise or none. A baseline trains like the set.",
    )
    parser.add_argument(
        "--lr",
        type=float | Literal["auto"],
        default="auto",
        help="SGD learning rate of the evaluation networks: a number, or auto: the set's learned "
        "one when it carries one (MTT), else the published 0.01. A baseline trains with the "
        "number given, or with 0.01 under auto. The JSON records the rate and its source.",
    )
    parser.add_argument(
        "--data_root",
        type=str | None,
        default=None,
        help="Folder holding the real dataset (root/{train,test}/<class> for imagefolder); "
        "default: $DCL_DATA_ROOT, else ./data.",
    )
    parser.add_argument(
        "--cache_dir",
        type=str | None,
        default=None,
        help="Compact dataset cache (default $DCL_CACHE_DIR or ~/.cache/dcl).",
    )
    parser.add_argument(
        "--device",
        type=str,
        default="auto",
        help="auto (cuda if available, else cpu), cpu, cuda or cuda:N.",
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="Processes (GPUs) per node sharing the models; the table equals one process's.",
    )
    parser.add_argument("--num_nodes", type=int, default=1, help="Nodes (with --devices each).")
    parser.add_argument(
        "--strategy",
        type=str,
        default="auto",
        help="Lightning Fabric strategy: auto (ddp for several devices), ddp, ddp_spawn, ...",
    )
    parser.add_argument(
        "--precision",
        type=Literal["32-true", "bf16-mixed"],
        default="32-true",
        help="Training and test precision, as synthesis's --trainer.precision (16-mixed is not "
        "offered: evaluation training runs without a gradient scaler).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Network i of each architecture is seeded with seed + i (the same networks for the "
        "set and its baseline); also seeds the baseline's selection.",
    )
    parser.add_argument(
        "--output", type=str | None, default=None, help="Write the results JSON to this file."
    )
    parser.add_argument(
        "--baseline",
        type=Literal[BASELINES] | None,
        default=None,
        help="Also evaluate this coreset at the same ipc, with the same models and protocol.",
    )
    parser.add_argument(
        "--extractor",
        type=str | None,
        default=None,
        help="Feature extractor file for herding/kcenter/forgetting (trained and saved there "
        "first if missing, so later runs reuse it); "
        "default: train one on the full training set.",
    )
    parser.add_argument(
        "--extractor_epochs", type=int, default=10, help="Epochs of a freshly trained extractor."
    )
    parser.add_argument(
        "--compile",
        type=bool | None,
        default=None,
        help="Train and test through torch.compile'd forwards (same numbers; faster on CPU "
        "after a one-off compilation; needs a C++ compiler there); default: --autotune decides.",
    )
    parser.add_argument(
        "--channels_last",
        type=bool | None,
        default=None,
        help="Train and test on channels-last (NHWC) tensors; default: --autotune decides.",
    )
    parser.add_argument(
        "--ensemble",
        type=bool | None,
        default=None,
        help="Train an architecture's networks together in one vmap-ed pass (not batch-norm "
        "networks or class paths); default: --autotune decides.",
    )
    parser.add_argument(
        "--autotune",
        type=bool,
        default=True,
        help="Decide the options left unset by timing a few training steps of throwaway "
        "networks on the set (cached per machine and shape in $DCL_CACHE_DIR/autotune.json; "
        "the choice is printed and recorded); false: plain, the ensemble on CUDA only.",
    )
    add_label_options(parser)
    return parser


def add_label_options(parser: ArgumentParser) -> None:
    """``--labels``, ``--teacher``, ``--teacher_epochs``, ``--temperature``, ``--protocol``."""
    parser.add_argument(
        "--labels",
        type=Literal[LABEL_MODES],
        default="auto",
        help="hard: cross-entropy on the class labels; soft: KL divergence on soft labels (the "
        "set's own, else its images relabelled by --teacher); auto: soft when the set carries "
        "soft labels or a teacher is given.",
    )
    parser.add_argument(
        "--teacher",
        type=str | None,
        default=None,
        help="Teacher that relabels sets with soft labels: a file (trained there on the "
        "training split if missing) or auto (cached per dataset, architecture (the first of "
        "--models), seed and epochs).",
    )
    parser.add_argument(
        "--teacher_epochs", type=int, default=TEACHER_EPOCHS, help="Epochs of a new teacher."
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        help="Softmax temperature of soft labels (DD-Ranking's default 1.2; no T^2 factor).",
    )
    parser.add_argument(
        "--protocol",
        type=Literal["standard", "ddranking"],
        default="standard",
        help="standard: the accuracy table; ddranking: also DD-Ranking's label- and "
        "augmentation-robust scores (LRS, ARS) against same-size random real subsets, "
        "relabelled by the teacher (auto unless given).",
    )
