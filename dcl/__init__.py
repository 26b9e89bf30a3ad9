"""dcl: dataset condensation (DC, DSA, DM, MTT, DataDAM) and coreset baselines on Lightning.

The names a user needs are importable from here (loaded on first use, so ``import dcl`` stays
cheap): the data module, the synthesis and evaluation modules, the set they exchange, the
interface of matching methods, the evaluation entry point, the network factory and its embedding
call, the coreset baselines, and MTT's expert trajectories and ZCA whitening.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "RealDataModule": "dcl.data.module",
    "SyntheticSet": "dcl.data.synthetic",
    "SynthesisModule": "dcl.synthesis.module",
    "MatchingMethod": "dcl.methods",
    "StepContext": "dcl.methods",
    "EvaluationHints": "dcl.methods",
    "EvaluationModule": "dcl.evaluation.protocol",
    "run_protocol": "dcl.evaluation.protocol",
    "summarize": "dcl.evaluation.protocol",
    "SynthesisEvaluation": "dcl.evaluation.callback",
    "build_network": "dcl.networks",
    "embed": "dcl.networks",
    "select_baseline": "dcl.baselines",
    "BASELINES": "dcl.baselines",
    "ExpertBuffer": "dcl.methods.mtt",
    "ExpertSettings": "dcl.methods.mtt",
    "train_experts": "dcl.methods.mtt",
    "fit_zca": "dcl.data.zca",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dcl' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
