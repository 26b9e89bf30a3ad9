r"""Accuracy of a synthetic set made under each trainer precision, on the same setting and seeds.

Usage::

    python -m benchmarks.precision --config configs/quickstart.yaml --seeds 0 1 2 \
        --precisions 32-true bf16-mixed --threads 1 --output results/precision/digits_dm_ipc1.json

For every precision and seed it runs ``train_synthetic.py fit --config CONFIG`` with
``--trainer.precision P --seed_everything S`` (plus any ``--override KEY=VALUE`` options) in a
subprocess and reads the ``evaluation.json`` that the config's ``SynthesisEvaluation`` callback
writes: the set is synthesised in that precision and evaluated in float32 by the same protocol.
Per precision it records every seed's mean accuracy, their mean and the standard error over
seeds, the random-real baseline, and the wall time; the difference to the first precision is
given with its standard error, so "equal" can be read against the noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO, command_line, environment, resolve_device
from dcl.evaluation.recipe import PROTOCOL
from dcl.evaluation.report import write_json


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.precision",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="configs/quickstart.yaml", help="A train_synthetic config.")
    p.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of each run.")
    p.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--output", required=True, help="JSON file to write.")
    return p


def run_one(args: argparse.Namespace, precision: str, seed: int) -> dict[str, Any]:
    """Synthesise and evaluate one set; its accuracy, baseline and wall time."""
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "train_synthetic.py", "fit", "--config", args.config,
            "--trainer.precision", precision, "--seed_everything", str(seed),
            "--trainer.default_root_dir", tmp, "--trainer.enable_progress_bar", "false",
            *(f"--{kv}" for kv in args.override),
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(
                f"train_synthetic.py failed for precision {precision!r}, seed {seed} (exit "
                f"{done.returncode}); check --config, --precisions and --override. It said:\n{tail}"
            )
        seconds = time.perf_counter() - start
        (path,) = Path(tmp).glob("**/evaluation.json")
        doc = json.loads(path.read_text())
    (ours,) = doc["results"].values()
    baseline = doc.get("baseline")
    return {
        "seed": seed,
        "mean": ours["mean"],
        "accuracies": ours["accuracies"],
        "baseline_mean": next(iter(baseline["results"].values()))["mean"] if baseline else None,
        "seconds": seconds,
        "settings": doc["settings"],
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over seeds of the per-seed means, and its standard error."""
    means = [r["mean"] for r in runs]
    sem = statistics.stdev(means) / math.sqrt(len(means)) if len(means) > 1 else float("nan")
    return {"mean": statistics.fmean(means), "sem": sem, "seconds": sum(r["seconds"] for r in runs)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every precision and seed; print a table, write the JSON and return it."""
    args = build_parser().parse_args(argv)
    if args.threads:  # so that the environment record names the runs' thread count
        torch.set_num_threads(args.threads)
    rows = []
    for precision in args.precisions:
        runs = [run_one(args, precision, seed) for seed in args.seeds]
        rows.append({"precision": precision, "runs": runs, **summarise(runs)})
    first = rows[0]
    for row in rows:
        row["difference"] = row["mean"] - first["mean"]
        row["difference_se"] = math.hypot(row["sem"], first["sem"])
        print(
            f"{row['precision']:>12}: {row['mean']:6.2f} ± {row['sem']:.2f} % (sem over "
            f"{len(row['runs'])} seeds), {row['difference']:+.2f} ± {row['difference_se']:.2f} "
            f"vs {first['precision']}, {row['seconds']:.0f} s",
            flush=True,
        )
    document = {
        "kind": "precision",
        "evaluation_protocol": PROTOCOL,
        "environment": environment(resolve_device("auto")),
        "settings": vars(args),
        "command": command_line("precision", argv),
        "results": rows,
    }
    out = Path(args.output)
    write_json(document, out)
    print(f"Results: {out}")
    return document


if __name__ == "__main__":
    main()
