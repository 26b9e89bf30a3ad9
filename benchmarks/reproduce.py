"""Reproduce a published setting end to end: synthesis with the shipped config, then evaluation.

Usage::

    python -m benchmarks.reproduce METHOD DATASET IPC [--steps N] [--batch-real N]
        [--num-models N] [--epochs N] [--data-root DIR] [--imagefolder] [--device auto]
        [--tag TAG] [--baseline random|none] [--config PATH] [--max-synthesis-seconds S]
        [--synthesis-seeds S] [--method-args JSON] [--select-every N]
        [--buffer DIR | --experts N --expert-epochs E --max-expert-seconds S]

Synthesis runs ``train_synthetic.py fit --config configs/METHOD/DATASET_ipcIPC.yaml`` (through
``dcl.cli.train_main``) with a second config that applies the scaling options and replaces the
evaluation callback (evaluation is timed separately here). The set is then evaluated with the
protocol (``dcl.evaluation.run_protocol``): fresh networks trained on it and tested on the full
real test set, and the random-real baseline with the same networks, epochs and augmentation.
With ``--synthesis-seeds S`` this repeats for S seeds and reports the mean and std over all
S x M models (the papers' convention) plus the spread between sets. Writes
``results/METHOD_DATASET_ipcIPC[_TAG].json``. ``--imagefolder`` reads DATASET from an
image folder at ``--data-root`` (e.g. the CIFAR-10 JPEG tree) and compares with DATASET's
published numbers. ``--max-synthesis-seconds`` stops synthesis early when the time runs out and
records the steps done.

Methods: dm, dc, dsa, datadam (its configs evaluate ConvNetBN itself, ``models: SS``, for 1800
epochs; the evaluation callback's ``models``, ``augment`` and ``lr`` are honoured) and mtt. MTT
first needs an expert buffer: ``--buffer DIR``, or by default ``--experts N`` (5) experts of
``--expert-epochs E`` (50) trained by ``dcl.methods.mtt.train_experts`` into
``<run-dir>/METHOD_DATASET_ipcN[_TAG]/buffer`` on the data module the synthesis reads (dataset,
root, image folder, cache, the config's ``data.zca``), timed; ``--max-expert-seconds`` starts no
further expert once the next would overrun. The set is evaluated with its learned learning rate.
The JSON records the experts (count, epochs, seconds) beside the published 100 x 50, and lists
every reduction from the published setting (``reduced``). ``--method-args JSON`` updates the
config's ``model.method_args`` (e.g. ``'{"max_start_epoch": 2}'`` for experts of a few epochs).
With periodic evaluation (``--select-every N``, default the config's ``every_n_steps``) the set
is kept every N steps and the JSON's ``selection`` gives, side by side, the final set's accuracy,
the validation-selected one (with a validation split: ``--override data.val_size=N``) and the
test-max one (the releases' best over periodic evaluations: ``selected_on`` ``test``); the
final set's networks score the validation split and the test set in one training. MTT's seeds
share one buffer, so they share one validation split too (``data.val_seed``: the first seed).
A config of another dataset can be run on small data with ``--config configs/mtt/cifar10_ipc1.yaml
--override data.dataset=digits`` (the experts learn the same data).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.common import REPO, command_line, environment, now
from benchmarks.reproduce_options import build_parser
from benchmarks.reproduce_runs import (
    Progress,
    callback_args,
    finished_set,
    pin_validation_split,
    prepare_buffer,
    run_name,
    synthesise,
)
from benchmarks.reproduce_selection import pooled_selection, selection_entry, selection_line
from benchmarks.summary import published, published_source, reductions
from dcl.baselines import select_baseline
from dcl.data.splits import adopt_whitening
from dcl.evaluation import expand_models, run_protocol, run_protocol_on_splits, summarize
from dcl.evaluation.learning_rate import lr_settings
from dcl.evaluation.recipe import recipes, set_hints
from dcl.evaluation.report import write_json


def pooled(per_set: list[dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Per architecture: mean and std over all sets x models, as the papers report.

    Also the spread between sets: the population std of the per-set means.
    """
    out = {}
    for arch in per_set[0]:
        summary = summarize([a for results in per_set for a in results[arch]])
        means = [summarize(results[arch])["mean"] for results in per_set]
        summary.update(set_means=means, between_sets_std=summarize(means)["std"])
        out[arch] = summary
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Synthesise ``--synthesis-seeds`` sets, evaluate each, write the result JSON, return it."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(__doc__).parse_args(arguments)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.synthesis_seeds < 1:
        raise SystemExit("--synthesis-seeds must be at least 1.")
    if args.method != "mtt" and args.buffer is not None:
        raise SystemExit("--buffer is for mtt (its expert trajectories).")
    name = run_name(args)
    default_config = REPO / "configs" / args.method / f"{args.dataset}_ipc{args.ipc}.yaml"
    config_path = Path(args.config or default_config)
    shipped = yaml.safe_load(config_path.read_text())
    evaluation = callback_args(shipped)
    num_models = args.num_models or evaluation.get("num_models", 5)
    epochs = args.epochs or evaluation.get("epochs")  # None: the release's recipe per network
    augment = evaluation.get("augment", "auto")
    lr = evaluation.get("lr", "auto")  # auto: the set's learned rate (MTT), else 0.01
    if args.select_every is None:
        args.select_every = evaluation.get("every_n_steps", 0)
    first = args.seed if args.seed is not None else shipped.get("seed_everything", 0)
    if args.method == "mtt":
        pin_validation_split(args, shipped, first)
    experts = prepare_buffer(args, shipped) if args.method == "mtt" else None
    if experts and experts.get("budget_s") is not None and args.max_synthesis_seconds is not None:
        # Experts that overran their budget take it from synthesis: the call's total holds.
        overrun = max(0.0, experts["seconds"] - experts["budget_s"])
        args.max_synthesis_seconds = max(30.0, args.max_synthesis_seconds - overrun)
        experts["synthesis_budget_s"] = args.max_synthesis_seconds
    seeds = (
        [None] if args.synthesis_seeds == 1 else [first + i for i in range(args.synthesis_seeds)]
    )
    sets, results, base_results, cli = [], [], [], None

    def read_back(record: dict[str, Any], path: Path) -> None:
        print(f"set seed {record['entry']['seed']} was evaluated before: {path}", flush=True)
        sets.append(record["entry"])
        results.append(record["results"])
        if record["baseline_results"] is not None:
            base_results.append(record["baseline_results"])

    for seed in seeds:
        set_file = (
            Path(args.results_dir) / f"{name}_sets" / f"seed{first if seed is None else seed}.json"
        )
        done = finished_set(set_file, arguments)
        # A set evaluated by an earlier run of this command is read back without its synthesis,
        # except the last when nothing ran: the document needs one run's data and settings.
        if done is not None and (cli is not None or seed != seeds[-1]):
            read_back(done, set_file)
            continue
        cli, synthesis_seconds, override = synthesise(args, shipped, config_path, seed)
        model, data, trainer = cli.model, cli.datamodule, cli.trainer
        progress = next(cb for cb in trainer.callbacks if isinstance(cb, Progress))
        syn = model.synthetic_set()
        device = trainer.strategy.root_device
        models = expand_models(args.models or evaluation.get("models"), syn.backbone)
        plan = {m: dataclasses.asdict(r) for m, r in recipes(syn, models, augment, epochs).items()}
        protocol = dict(
            num_models=num_models,
            epochs=epochs,
            augment=augment,
            lr=lr,
            like=set_hints(syn),  # the baseline trains like the condensed set
            seed=syn.seed,
            device=device,
            progress=False,
            compile=args.compile,
        )
        if done is not None:  # synthesised again only for the document
            read_back(done, set_file)
            continue
        test = data.test.to(device)
        print(f"evaluating set seed {syn.seed}: {num_models} model(s) each of {plan}", flush=True)
        start = now()
        # With selection the final set's networks also score the validation split (one training).
        val = getattr(data, "val", None) if args.select_every else None
        splits = {"test": test} | ({} if val is None else {"val": val.to(device)})
        final = run_protocol_on_splits(syn, splits, models, **protocol)
        results.append(final["test"])
        entry = {
            "seed": syn.seed,
            "steps": trainer.global_step,
            **lr_settings(lr, syn),  # MTT: the learned syn_lr (source "learned")
            "stopped_at_time_budget": progress.stopped_early,
            "synthesis_seconds": synthesis_seconds,
            "synthesis_step_seconds": progress.seconds,
            "evaluation_seconds": now() - start,
        }
        if args.select_every:  # final, validation-selected and test-max, side by side
            entry.update(selection_entry(trainer, syn, final, models, protocol, splits))
        if args.baseline != "none":
            base = select_baseline(
                args.baseline, data.train, args.ipc, seed=syn.seed, device=device
            )
            base = adopt_whitening(base, data.train)  # ZCA data: a whitened baseline
            entry.update(lr_settings(lr, base, "baseline_"))
            start = now()
            base_results.append(run_protocol(base, test, models, **protocol))
            entry["baseline_evaluation_seconds"] = now() - start
        sets.append(entry)
        record = {"entry": entry, "results": results[-1], "argv": arguments}
        record["baseline_results"] = base_results[-1] if args.baseline != "none" else None
        write_json({**record, "environment": environment(torch.device(device))}, set_file)
    summaries = pooled(results)
    baseline = None
    if base_results:
        baseline = {"method": args.baseline, "results": pooled(base_results)}
        baseline.update(
            mean=baseline["results"][models[0]]["mean"], std=baseline["results"][models[0]]["std"]
        )
    main_arch = summaries[models[0]]
    # The published number to compare with: DATASET's, when the data is DATASET or its image
    # folder; a config run on other data (--override data.dataset=...) compares with that data's.
    published_as = args.dataset if data.dataset in (args.dataset, "imagefolder") else data.dataset
    document = {
        "kind": "reproduction",
        "method": args.method,
        "dataset": args.dataset,
        "data_source": data.dataset,
        "data_root": str(data.root),
        "published_as": published_as,
        "ipc": args.ipc,
        "tag": args.tag,
        "accuracies": main_arch["accuracies"],
        "mean": main_arch["mean"],
        "std": main_arch["std"],
        "between_sets_std": main_arch["between_sets_std"],
        "results": summaries,
        "baseline": baseline,
        "selection": pooled_selection([s.get("selection") for s in sets], args.select_every)
        if args.select_every
        else None,
        "validation": getattr(data, "validation", None),
        "sets": sets,
        "steps": sets[-1]["steps"],
        "published_steps": shipped["trainer"]["max_steps"],
        "stopped_at_time_budget": any(s["stopped_at_time_budget"] for s in sets),
        "batch_real": model.hparams.batch_real,
        "published_batch_real": shipped["model"].get("batch_real"),
        "num_sets": len(sets),
        "num_models": num_models,
        "epochs": epochs,
        "published_num_models": evaluation.get("num_models"),
        # The config's epochs, else the release's recipe for the set (e.g. 1000 with DSA).
        "published_epochs": evaluation.get("epochs")
        or recipes(syn, models, augment)[models[0]].epochs,
        "models": models,
        "recipes": plan,
        "augment": augment,
        "lr": sets[-1]["lr"],
        "lr_source": sets[-1]["lr_source"],
        "baseline_lr": sets[-1].get("baseline_lr"),
        "zca": bool(getattr(data, "zca", False)),
        "synthesis_seconds": sum(s["synthesis_seconds"] for s in sets),
        "synthesis_step_seconds": sum(s["synthesis_step_seconds"] for s in sets),
        "evaluation_seconds": sum(s["evaluation_seconds"] for s in sets),
        "environment": environment(torch.device(device)),
        "threads": torch.get_num_threads(),
        "config": str(
            config_path.relative_to(REPO) if config_path.is_relative_to(REPO) else config_path
        ),
        "override": override,
        "extra_overrides": args.override,
        "method_args_override": args.method_args,
        "settings": {
            "model": {
                k: str(v) if not isinstance(v, int | float | str | bool | None) else v
                for k, v in model.hparams.items()
            },
            "trainer_max_steps": trainer.max_steps,
        },
        "command": command_line("reproduce", argv),
    }
    if experts is not None:
        document.update(
            experts=experts,
            num_experts=experts["num_experts"],
            published_num_experts=experts["published_num_experts"],
            expert_epochs=experts["epochs"],
            published_expert_epochs=experts["published_epochs"],
            expert_seconds=experts["seconds"],
        )
    pub = published(published_as, args.method, args.ipc)
    shipped_data = shipped.get("data", {}).get("dataset", args.dataset)
    document["published"] = {  # the published setting this run reproduces, and its number
        "setting": f"{args.method} {shipped_data} {args.ipc} ipc ({document['config']})",
        "mean": pub[0] if pub else None,
        "std": pub[1] if pub else None,
        "source": published_source(args.method) if pub else None,
    }
    document["reduced"] = reductions(document)  # e.g. ["steps 1200/5000", "experts 3/100"]
    document["full_published_setting"] = not document["reduced"]
    out = Path(args.results_dir) / f"{name}.json"
    write_json(document, out)
    if document["selection"] is not None:
        print(f"{name} ({models[0]}): {selection_line(document['selection'])}", flush=True)
    base_text = (
        f", {args.baseline} {baseline['mean']:.2f} +- {baseline['std']:.2f}" if baseline else ""
    )
    reduced = ", ".join(document["reduced"]) or "none"
    print(
        f"{name}: {document['mean']:.2f} +- {document['std']:.2f} over {len(sets)} set(s) x "
        f"{num_models} models{base_text} ({document['steps']} steps, lr {document['lr']:g} "
        f"{document['lr_source']}; reduced from the published setting: {reduced}); results: "
        f"{out}",
        flush=True,
    )
    return document


if __name__ == "__main__":
    main()
