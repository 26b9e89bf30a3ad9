"""Matching methods as plug-ins: DM, DC, DSA, DataDAM and MTT, and the interface they implement.

A method is one module (DC and MTT: one sub-package) holding its loss, its published defaults,
its per-dataset settings and how its sets are evaluated; ``SynthesisModule`` drives any of them,
and a user's method (a ``MatchingMethod`` subclass named by class path) gets exactly the same.
"""

from dcl.methods.base import MatchingMethod, Siamese, StepContext
from dcl.methods.datadam import DataDAM
from dcl.methods.dc import DC
from dcl.methods.dm import DM
from dcl.methods.dsa import DSA
from dcl.methods.hints import PLAIN, EvaluationHints
from dcl.methods.mtt import MTT
from dcl.methods.registry import (
    BUILTIN,
    METHOD_OPTIONS,
    build_method,
    evaluation_hints,
    resolve_method,
)

__all__ = [
    "BUILTIN",
    "DC",
    "DM",
    "DSA",
    "DataDAM",
    "EvaluationHints",
    "METHOD_OPTIONS",
    "MTT",
    "MatchingMethod",
    "PLAIN",
    "Siamese",
    "StepContext",
    "build_method",
    "evaluation_hints",
    "resolve_method",
]
