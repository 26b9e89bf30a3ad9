"""Matching methods: DM, DC and DSA, and the interface a method of your own implements."""

from dcl.synthesis.methods.base import MatchingMethod, StepContext
from dcl.synthesis.methods.dc import DC
from dcl.synthesis.methods.dm import DM
from dcl.synthesis.methods.dsa import DSA
from dcl.synthesis.methods.registry import BUILTIN, METHOD_OPTIONS, build_method, resolve_method

__all__ = [
    "BUILTIN",
    "DC",
    "DM",
    "DSA",
    "METHOD_OPTIONS",
    "MatchingMethod",
    "StepContext",
    "build_method",
    "resolve_method",
]
