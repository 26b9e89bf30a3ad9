"""Evaluation during and after synthesis, through the same protocol code as evaluate.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import lightning as L

from dcl.baselines import BASELINES
from dcl.data.splits import adopt_whitening
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.autotune import EvaluationPath, choose_paths
from dcl.evaluation.distributed import gather_results
from dcl.evaluation.learning_rate import lr_settings, resolve_lr
from dcl.evaluation.pools import expand_models
from dcl.evaluation.protocol import recipes, run_protocol
from dcl.evaluation.recipe import AUGMENTS, PROTOCOL
from dcl.evaluation.report import evaluation_document, format_table, summaries, write_json
from dcl.evaluation.selection import Select, Selection, select_problems, title


class SynthesisEvaluation(L.Callback):
    """Trains fresh networks on the current synthetic set every N steps and at the end.

    Every rank takes part: each trains its share of the models on its own device
    (``trainer.strategy.root_device``) and the shares are gathered, so the table equals a
    single process's and no rank waits idle in a collective. The final evaluation runs in
    ``on_train_end``, before the strategy's teardown moves the module off the GPU. Periodic
    evaluations test on the data module's validation split when it has one (``val/<arch>``),
    else on the test set (``eval/<arch>``). Accuracies go to TensorBoard (``final/<arch>``,
    ``selected/<arch>`` or ``test-max/<arch>`` and ``hp_metric`` at the end, for the HPARAMS
    tab) and the progress bar; the final table (with the baseline beside it) is printed and
    written to ``evaluation.json`` next to ``synthetic.pt``, with the ``selection`` made.

    Args:
        every_n_steps: Evaluate every this many image updates (0: only at the end).
        num_models: Fresh networks per architecture.
        epochs: The release's E per network (trains epochs 0..E); ``None``: the published
            recipe (1000 with augmentation, 300 without).
        models: Pool letter (M, B, W, D, A, P, N, S, SS) or comma-separated network names or
            class paths of your own networks (default: ``S``, the synthesis backbone with batch
            norm swapped for instance norm, as the release evaluates).
        augment: auto, dsa, dc, crop_noise or none (auto: the release's recipe for the method,
            dataset and network, with the set's own DSA strategy).
        baseline: Also evaluate this coreset at the same ipc at the end (e.g. ``random``);
            ``None`` for no baseline.
        at_end: Evaluate once training ends.
        compile: Train and test through ``torch.compile``'d forwards (``None``: the probe
            decides; see ``run_protocol``).
        channels_last: Train and test on channels-last tensors (``None``: the probe decides).
        ensemble: Train an architecture's networks together (``None``: the probe decides).
        autotune: Time the undecided options on the run's own set and networks (rank 0 decides
            for all; cached per machine and shape) and print the choice; ``False``: plain, the
            ensemble on CUDA only. The paths taken are recorded in ``evaluation.json``.
        lr: SGD learning rate of the evaluation networks: a number, or ``auto``: the set's
            learned one when its method learns one (MTT), else the published 0.01 (a baseline:
            the number, or 0.01 under ``auto``). ``evaluation.json`` records rate and source.
        select: Which set's test accuracy is reported (``dcl.evaluation.selection``): ``last``
            (the final set), ``val`` (the best on the validation split among the periodic
            evaluations and the final set; only it is tested, and written to ``selected.pt``)
            or ``test-max`` (the best test accuracy among them, as MTT's and DataDAM's releases
            report; named so in the table and JSON). ``val`` and ``test-max`` need
            ``every_n_steps`` > 0; ``val`` needs a validation split (``--data.val_size``).
    """

    def __init__(
        self,
        every_n_steps: int = 0,
        num_models: int = 3,
        epochs: int | None = None,
        models: str | None = None,
        augment: Literal[AUGMENTS] = "auto",
        baseline: Literal[BASELINES] | None = "random",
        at_end: bool = True,
        compile: bool | None = None,
        channels_last: bool | None = None,
        ensemble: bool | None = None,
        autotune: bool = True,
        lr: float | Literal["auto"] = "auto",
        select: Select = "last",
    ) -> None:
        # Checked now, not after hours of synthesis.
        problems = []
        if augment not in AUGMENTS:
            problems.append(f"augment '{augment}' is not one of {', '.join(AUGMENTS)}")
        if baseline is not None and baseline not in BASELINES:
            problems.append(f"baseline '{baseline}' is not one of {', '.join(BASELINES)} or null")
        try:
            resolve_lr(lr, None)
        except ValueError as err:
            problems.append(str(err))
        if every_n_steps < 0 or num_models < 1 or (epochs is not None and epochs < 0):
            problems.append("every_n_steps must be >= 0, num_models >= 1 and epochs >= 0")
        try:
            expand_models(models)
        except ValueError as err:
            problems.append(str(err))
        problems += select_problems(select, every_n_steps)
        if problems:
            raise ValueError("SynthesisEvaluation: " + "; ".join(problems) + ".")
        self.every_n_steps, self.num_models, self.epochs = every_n_steps, num_models, epochs
        self.tuning = {
            "compile": compile, "channels_last": channels_last, "ensemble": ensemble,
            "autotune": autotune,
        }  # fmt: skip
        self.models, self.augment, self.baseline, self.at_end = models, augment, baseline, at_end
        self.lr, self.select = lr, select
        self.selection = Selection(select)
        self._paths: dict[str, EvaluationPath] = {}  # the latest evaluation's paths

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Refuse ``select: val`` without a validation split; start a fresh selection."""
        if self.select == "val" and getattr(trainer.datamodule, "val", None) is None:
            raise ValueError(
                "SynthesisEvaluation: select 'val' needs a validation split: set "
                "--data.val_size (images per class, or a fraction of the training split)."
            )
        self.selection = Selection(self.select)

    def state_dict(self) -> dict:
        """The candidates so far and the best set: a resumed run chooses among all of them."""
        return {"selection": self.selection.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the candidates of the run before its interruption."""
        if "selection" in state_dict:
            self.selection.load_state_dict(state_dict["selection"])

    def _evaluate(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        syn=None,
        progress: bool = False,
        paths: dict[str, EvaluationPath] | None = None,
        split: Literal["test", "val"] = "test",
    ) -> tuple[dict[str, list[float]], dict[str, EvaluationPath]]:
        """Every rank trains its share of the models and tests them on ``split``.

        All ranks get the table and the paths.
        """
        syn = syn if syn is not None else pl_module.synthetic_set()
        strategy = trainer.strategy
        models = expand_models(self.models, pl_module.hparams.backbone)
        progress = progress and trainer.is_global_zero
        protocol = dict(
            num_models=self.num_models,
            epochs=self.epochs,
            augment=self.augment,
            like=pl_module.matching.evaluation,  # the baseline trains like the set itself
            device=strategy.root_device,
            shard=(strategy.global_rank, strategy.world_size),
        )
        if paths is None:  # rank 0 decides, every rank trains that way
            paths = choose_paths(
                syn, models, **protocol, **self.tuning, broadcast=strategy.broadcast,
                progress=progress,
            )  # fmt: skip
        test = trainer.datamodule.val if split == "val" else trainer.datamodule.test
        results = run_protocol(
            syn, test, models, seed=pl_module.seed, progress=progress, paths=paths, lr=self.lr,
            **protocol,
        )  # fmt: skip
        return gather_results(results, strategy.all_gather, strategy.root_device), paths

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Periodic evaluation on every rank: ``val/<arch>`` with a validation split.

        The test set is read here only without a validation split (monitoring, ``eval/<arch>``)
        or for ``select: test-max``.
        """
        step = trainer.global_step
        if not self.every_n_steps or step % self.every_n_steps:
            return
        syn = pl_module.synthetic_set()
        val = test = None
        if getattr(trainer.datamodule, "val", None) is not None:
            val, self._paths = self._evaluate(trainer, pl_module, syn, progress=True, split="val")
            self._log(pl_module, "val", val)
        if val is None or self.select == "test-max":
            test, self._paths = self._evaluate(trainer, pl_module, syn, progress=True)
            self._log(pl_module, "eval", test)
        self.selection.add(syn.step, syn, val, test)

    @staticmethod
    def _log(pl_module: L.LightningModule, prefix: str, results: dict[str, list[float]]) -> None:
        for arch, s in summaries(results).items():
            pl_module.log(f"{prefix}/{arch}", s["mean"], prog_bar=True, rank_zero_only=True)

    def _final(
        self, trainer: L.Trainer, pl_module: L.LightningModule, syn: SyntheticSet
    ) -> tuple[SyntheticSet, dict[str, list[float]], dict[str, EvaluationPath]]:
        """The reported set and its test accuracies; the test set is read for it alone.

        ``val`` evaluates the final set on validation, chooses, and tests the chosen set once;
        ``test-max`` tests the final set and takes the best tested one. A final set that a
        periodic evaluation just measured (the last step a multiple of ``every_n_steps``) is
        not trained on again.
        """
        done = self.selection.candidates[-1] if self.selection.candidates else None
        done = done if done is not None and done.step == syn.step else None
        if self.select == "val":
            paths = self._paths
            if done is None or done.val is None:
                val, paths = self._evaluate(trainer, pl_module, syn, progress=True, split="val")
                self.selection.add(syn.step, syn, val=val)
            chosen = self.selection.chosen().syn
            results, _ = self._evaluate(trainer, pl_module, chosen, progress=True, paths=paths)
            return chosen, results, paths
        if done is not None and done.results is not None:
            results, paths = done.results, self._paths
        else:
            results, paths = self._evaluate(trainer, pl_module, syn, progress=True)
            self.selection.add(syn.step, syn, test=results)
        best = self.selection.chosen()
        return best.syn or syn, best.results or results, paths

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Final table: the condensed set beside the baseline, mean and std over models.

        Runs before teardown, so on the device synthesis used, with every rank still alive.
        """
        if not self.at_end or trainer.interrupted:
            return
        syn = pl_module.synthetic_set()  # one copy of the images for evaluation and report
        syn, results, paths = self._final(trainer, pl_module, syn)
        base, name = None, self.baseline
        if name:
            from dcl.baselines import select_baseline

            train = trainer.datamodule.train
            chosen = select_baseline(
                name, train, pl_module.ipc, seed=pl_module.seed, device=trainer.strategy.root_device
            )
            chosen = adopt_whitening(chosen, train)  # whitened images make a whitened set
            # The same shapes and recipe as the set's: its paths apply (no second probe).
            base, _ = self._evaluate(trainer, pl_module, chosen, progress=True, paths=paths)
        if trainer.is_global_zero:
            self._report(trainer, pl_module, syn, results, base, paths, chosen if name else None)

    def _report(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        syn: SyntheticSet,
        results: dict[str, list[float]],
        base: dict[str, list[float]] | None,
        paths: dict[str, EvaluationPath],
        chosen: SyntheticSet | None = None,
    ) -> None:
        out = Path(pl_module.output_dir)
        settings = self._settings(pl_module, syn)
        settings["validation"] = getattr(trainer.datamodule, "validation", None)
        if chosen is not None:
            settings.update(lr_settings(self.lr, chosen, "baseline_"))
        settings["paths"] = {arch: path.record() for arch, path in paths.items()}
        selection = self.selection.record()
        document = evaluation_document(results, base, self.baseline, settings, selection)
        write_json(document, out / "evaluation.json")
        if syn.step != pl_module.step:  # another set than synthetic.pt was chosen: keep it
            syn.save(out / "selected.pt")
        means = {arch: s["mean"] for arch, s in summaries(results).items()}
        prefix = {"last": "final", "val": "selected", "test-max": "test-max"}[self.select]
        if pl_module.logger is not None:
            metrics = {f"{prefix}/{arch}": mean for arch, mean in means.items()}
            metrics["hp_metric"] = next(iter(means.values()))  # the HPARAMS tab's column
            pl_module.logger.log_metrics(metrics, step=trainer.global_step)
        how = ", ".join(
            f"{a}: {r['augment']}, E={r['epochs']}" for a, r in settings["recipes"].items()
        )
        print(
            f"\n{pl_module.method.upper()} {pl_module.info.name}, {pl_module.ipc} image(s) "
            f"per class, {trainer.global_step} steps; {self.num_models} models each ({how}; lr "
            f"{settings['lr']:g}, {settings['lr_source']}):"
        )
        if self.select != "last":
            print(f"Reported: the set of step {syn.step}, selected on {selection['selected_on']}.")
        label = title(pl_module.method, self.select)
        print(format_table(results, base, self.baseline or "baseline", label))
        print(f"Synthetic set: {out / 'synthetic.pt'}\nImage grid:    {out / 'synthetic.png'}")
        print(
            f"Evaluation:    {out / 'evaluation.json'}\nTensorBoard:   tensorboard --logdir "
            f"{out.parent}"
        )
        pl_module.outputs_announced = True  # the module's own line would repeat the paths

    def _settings(self, pl_module: L.LightningModule, syn) -> dict:
        models = expand_models(self.models, pl_module.hparams.backbone)
        plan = recipes(syn, models, self.augment, self.epochs)
        return {
            "method": pl_module.method,
            "dataset": pl_module.info.name,
            "ipc": pl_module.ipc,
            "backbone": pl_module.hparams.backbone,
            "num_models": self.num_models,
            "epochs": self.epochs,
            "models": self.models,
            "augment": self.augment,
            **self.tuning,
            "recipes": {name: dataclasses.asdict(r) for name, r in plan.items()},
            "protocol": PROTOCOL,
            **lr_settings(self.lr, syn),  # the rate and its source: learned, published or given
            "select": self.select,
            "seed": pl_module.seed,
            "step": pl_module.global_step,
        }
