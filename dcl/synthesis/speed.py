"""The synthesis module's side of autotune: what it tells the probe, the step it lends, the result.

``dcl.synthesis.autotune`` decides from a ``Probe`` alone; this mixin builds that probe from the
run (its method's speed options, the options set by hand, the work's shape), lends it a step that
leaves no trace, and applies, records and prints the decision on every rank.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from lightning.pytorch.utilities.parsing import AttributeDict

from dcl import tuning
from dcl.synthesis.autotune import MODULE_OPTIONS, Probe, decide


class Autotuned:
    """Mixin of ``SynthesisModule``: autotune at fit start, and loggers record what it chose.

    Expects ``speed_path``, ``_speed_applied``, ``matching``, ``hparams``, ``context`` and the
    run's shapes on the module.
    """

    def on_fit_start(self) -> None:
        """Choose the path for the speed options left unset, on every rank."""
        self.tune()  # here, not in setup: the strategy has now put the images on their device

    def speed_context(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast when autotune chose it, else nothing (around loss and inner loop)."""
        return _autocast(self.device, bool(self.hparams.bf16))

    @property
    def hparams_initial(self) -> AttributeDict:
        """What loggers log (HPARAMS): as given, but the options autotune decided as they run."""
        decided = (self.speed_path or {}).get("choice", {})
        ran = {k: self.hparams[k] for k in decided if k in self.hparams}
        return AttributeDict({**super().hparams_initial, **ran})

    def tune(self) -> None:
        """Decide (global rank 0: probe or cache), share with every rank, apply, report.

        A no-op with ``autotune`` off and on a continuing fit; a checkpoint's decision is reused.
        """
        if not self.hparams.autotune or self._speed_applied:
            return
        record = self.speed_path
        resumed = record is not None
        if not resumed and self.trainer.is_global_zero:
            record = decide(self.speed_probe())
        record = self.trainer.strategy.broadcast(record, src=0)  # every rank takes part
        for option, value in record["choice"].items():
            if self._speed_option(option) is None:  # a value set by hand is never overridden
                self._set_speed_option(option, value)
        if self.hparams.bf16 is None:  # not offered here: float32, recorded as what ran
            self.hparams["bf16"] = False
        self.speed_path, self._speed_applied = record, True
        path = {option: self._speed_option(option) for option in record["path"]}
        how = f"checkpoint, {record['how']}" if resumed else record["how"]
        if self.trainer.is_global_zero:  # not self.print: no progress bar exists yet to print it
            print(tuning.describe("Synthesis", path, record["timings_ms"], how), flush=True)
        if self.logger is not None and record["timings_ms"]:
            timings = {f"autotune_ms/{k}": v for k, v in record["timings_ms"].items()}
            self.logger.log_metrics(timings, step=0)

    def speed_probe(self) -> Probe:
        """What autotune needs to decide this run, with the step it may time."""
        method = self.matching
        offered = method.speed_options(self.context(self.step))
        values = {k: self._speed_option(k) for k in [*offered, *MODULE_OPTIONS]}
        remaining = max(self.trainer.estimated_stepping_batches - self.step, 0)
        return Probe(
            offered=offered,
            values=values,
            bf16_offered=self._offers_bf16(),
            network_calls=method.network_calls,
            compile_needs=dict(method.compile_needs),
            remaining_steps=remaining,
            work=self._work(),
            device=self.device,
            step=self._trial_step,
        )

    def _work(self) -> dict[str, Any]:
        """What the decision depends on besides the machine and the options set by hand."""
        h, info, trainer = self.hparams, self.info, self.trainer
        return {
            **tuning.machine_key(self.device),
            "what": "synthesis",
            "method": self.method,
            "method_args": str(h.method_args or {}),
            "backbone": h.backbone,
            "shape": [info.channels, info.image_size, info.image_size],
            "classes": len(self._my_classes()),
            "ipc": self.ipc,
            "batch_real": h.batch_real,
            "metric": h.metric,
            "dsa": "none" if self.dsa is None else "_".join(self.dsa.ops),
            "precision": str(trainer.precision),
            "world_size": trainer.world_size,
            "multi_gpu": h.multi_gpu if trainer.world_size > 1 else None,
        }

    def _offers_bf16(self) -> bool:
        """bfloat16 is a candidate only where it was measured accurate and the hardware has it."""
        return (
            self.matching.bf16_measured
            and str(self.trainer.precision) in ("32-true", "32")
            and tuning.has_bf16_units(self.device)
        )

    @contextlib.contextmanager
    def _trial_step(self, options: dict[str, Any]) -> Iterator[Callable[[], None]]:
        """One step's loss and image gradient under ``options``, leaving no trace on the run."""
        # A copy of the method: DC's network, its batch-norm statistics and NHWC layout stay as is.
        method = copy.deepcopy(self.matching)
        saved = {k: self.hparams[k] for k in MODULE_OPTIONS}
        for option, value in options.items():
            if option in MODULE_OPTIONS:
                self.hparams[option] = value
            else:
                setattr(method, option, value)
        step, precision = self.step, self.trainer.precision_plugin
        bf16 = bool(options.get("bf16"))

        def run() -> None:
            # Every draw of the context is seeded by the step: no global random state is consumed.
            with precision.train_step_context(), _autocast(self.device, bf16):
                loss = method.loss(self.context(step))
                if loss.requires_grad:  # the gradient is returned, never accumulated into .grad
                    torch.autograd.grad(loss, [self.images], allow_unused=True)

        try:
            yield run
        finally:
            self.hparams.update(saved)

    def _speed_option(self, option: str) -> Any:
        if option in MODULE_OPTIONS:
            return self.hparams[option]
        return getattr(self.matching, option, None)

    def _set_speed_option(self, option: str, value: Any) -> None:
        if option not in MODULE_OPTIONS:
            setattr(self.matching, option, value)
        if option in self.hparams:  # what ran: checkpoints, sets and HPARAMS record it
            self.hparams[option] = value


def _autocast(device: torch.device, on: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else contextlib.nullcontext()
