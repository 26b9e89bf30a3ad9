"""Condensation methods (DM, DC, DSA, MTT, DataDAM) as a Lightning module, manual steps."""

from dcl.synthesis.module import SynthesisModule
from dcl.synthesis.settings import METHODS, default_loops

__all__ = ["METHODS", "SynthesisModule", "default_loops"]
