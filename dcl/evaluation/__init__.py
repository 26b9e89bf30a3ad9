"""The evaluation protocol, evaluation pools, the synthesis-time callback and result tables."""

from dcl.evaluation.autotune import EvaluationPath, choose_paths
from dcl.evaluation.callback import SynthesisEvaluation
from dcl.evaluation.pools import POOLS, expand_models
from dcl.evaluation.protocol import (
    EvaluationModule,
    resolve_augment,
    run_protocol,
    run_protocol_on_splits,
    summarize,
)

__all__ = [
    "POOLS",
    "EvaluationModule",
    "EvaluationPath",
    "SynthesisEvaluation",
    "choose_paths",
    "expand_models",
    "resolve_augment",
    "run_protocol",
    "run_protocol_on_splits",
    "summarize",
]
