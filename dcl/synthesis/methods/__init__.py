"""Matching methods: DM, DC and DSA, and the interface a method of your own implements."""

from dcl.synthesis.methods.base import MatchingMethod, StepContext
from dcl.synthesis.methods.datadam import DataDAM
from dcl.synthesis.methods.dc import DC
from dcl.synthesis.methods.dm import DM
from dcl.synthesis.methods.dsa import DSA
from dcl.synthesis.methods.mtt import MTT
from dcl.synthesis.methods.registry import BUILTIN, METHOD_OPTIONS, build_method, resolve_method

__all__ = [
    "BUILTIN",
    "DC",
    "DM",
    "DSA",
    "DataDAM",
    "METHOD_OPTIONS",
    "MTT",
    "MatchingMethod",
    "StepContext",
    "build_method",
    "resolve_method",
]
