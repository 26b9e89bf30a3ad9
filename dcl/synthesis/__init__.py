"""Condensation methods (DM, DC, DSA) as a Lightning module with manual optimisation."""

from dcl.synthesis.module import SynthesisModule
from dcl.synthesis.settings import METHODS, default_loops

__all__ = ["METHODS", "SynthesisModule", "default_loops"]
