r"""Projected memory of one image update for every shipped trajectory-matching config, both paths.

Usage::

    python -m benchmarks.mtt_projection [--output results/mtt_memory/projection_cpu.json]

Autograd's saved tensors are the part of an MTT step's memory that grows with ``syn_steps``, and
they are the same tensors on every device. Per network and image size this measures (with
``benchmarks.mtt_memory``, in this process, no DSA) the saved tensors alive at most for 1 and 2
student steps at minibatches of 4 and 8 images, and fits them linearly: the unrolled path
``N * (a + b * batch) + c``, the constant path (TESLA) ``d + e * batch`` whatever ``N``. Each
shipped config (``configs/mtt``, ``configs/tesla``) is then projected at its own ``syn_steps``
and ``batch_syn`` (or whole set), adding the tensors every step holds: the images, their
gradient and momentum, and six parameter-sized vectors. The figure approximates
``torch.cuda.max_memory_allocated`` from below: it leaves out the CUDA context, cuDNN workspaces,
the allocator's rounding and per-step transients, and DSA's input-sized tensors.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.common import REPO, command_line, environment, shape_info
from benchmarks.mtt_memory import Job, measure
from dcl import tuning
from dcl.evaluation.report import write_json

BATCHES = (4, 8)
GPUS_GIB = (16, 24, 40, 80)
# The shipped image-folder configs by image size: TESLA's ImageNet-1K at 64x64 is the only one.
FOLDER_SHAPES = {64: "imagenet1k-64"}


def shape_of(doc: dict[str, Any]) -> str:
    """The ``benchmarks.common.SHAPES`` / registry key of a config's data."""
    data = doc["data"]
    if data["dataset"] == "imagefolder":
        return FOLDER_SHAPES[data["image_size"]]
    return data["dataset"]


def fit(shape: str, backbone: str) -> dict[str, float]:
    """MiB coefficients of the saved tensors alive at most, from six tiny measurements."""
    saved = {}
    for memory, steps in (("unrolled", 1), ("unrolled", 2), ("constant", 2)):
        for b in BATCHES:
            job = Job(steps, shape, 1, backbone, b, False, "cpu", 1, 0, memory)
            saved[memory, steps, b] = measure(job)["peak_saved_mb"]
    lo, hi = BATCHES
    step = {b: saved["unrolled", 2, b] - saved["unrolled", 1, b] for b in BATCHES}
    per_image = (step[hi] - step[lo]) / (hi - lo)
    const_image = (saved["constant", 2, hi] - saved["constant", 2, lo]) / (hi - lo)
    return {
        "step_mb": step[lo] - per_image * lo,
        "step_per_image_mb": per_image,
        "unrolled_base_mb": saved["unrolled", 1, lo] - step[lo],
        "constant_mb": saved["constant", 2, lo] - const_image * lo,
        "constant_per_image_mb": const_image,
        "parameters": measure(Job(1, shape, 1, backbone, 1, False, "cpu", 1))["num_parameters"],
    }


def project(config: Path, coefficients: dict[str, float]) -> dict[str, Any]:
    """Projected GiB of one image update of ``config``, unrolled and constant."""
    doc = yaml.safe_load(config.read_text())
    args, shape = doc["model"]["method_args"], shape_of(doc)
    info = shape_info(shape)
    images = info.num_classes * doc["model"]["ipc"]
    batch = args.get("batch_syn") or images
    steps = args["syn_steps"]
    fixed = 3 * images * info.channels * info.image_size**2 * 4 / 2**20
    fixed += 6 * coefficients["parameters"] * 4 / 2**20
    per_step = coefficients["step_mb"] + coefficients["step_per_image_mb"] * batch
    unrolled = coefficients["unrolled_base_mb"] + steps * per_step + fixed
    constant = coefficients["constant_mb"] + coefficients["constant_per_image_mb"] * batch + fixed
    return {
        "config": f"{config.parent.name}/{config.stem}",
        "syn_steps": steps,
        "batch": batch,
        "images": images,
        "shipped_memory": args.get("memory", "unrolled"),
        "unrolled_gib": unrolled / 1024,
        "constant_gib": constant / 1024,
    }


def fits(gib: float) -> str:
    """The smallest of ``GPUS_GIB`` the figure fits in (10% headroom), or more."""
    for size in GPUS_GIB:
        if gib * 1.1 < size:
            return f"{size} GB"
    return f"> {GPUS_GIB[-1]} GB"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Fit, project every config, print a Markdown table, write the JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.mtt_projection", description=__doc__)
    p.add_argument("--output", default=str(REPO / "results/mtt_memory/projection_cpu.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    configs = sorted((REPO / "configs").glob("mtt/*.yaml"))
    configs += sorted((REPO / "configs").glob("tesla/*.yaml"))
    coefficients: dict[str, dict[str, float]] = {}
    rows = []
    for path in configs:
        doc = yaml.safe_load(path.read_text())
        key = f"{shape_of(doc)}/{doc['model']['backbone']}"
        if key not in coefficients:
            coefficients[key] = fit(*key.split("/"))
        rows.append(project(path, coefficients[key]))
    print("| config | N | batch | unrolled GiB | fits | constant GiB | fits |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        u, c = r["unrolled_gib"], r["constant_gib"]
        print(
            f"| {r['config']} | {r['syn_steps']} | {r['batch']} | {u:.1f} | {fits(u)} "
            f"| {c:.2f} | {fits(c)} |"
        )
    document = {
        "kind": "mtt_projection",
        "environment": environment(torch.device("cpu")),
        "cpu_model": tuning.cpu_model(),
        "command": command_line("mtt_projection", argv),
        "coefficients_mb": coefficients,
        "results": rows,
    }
    write_json(document, Path(args.output))
    return document


if __name__ == "__main__":
    main()
