"""The Lightning driver of synthesis: any matching method (``dcl.methods``), manual steps."""

from dcl.synthesis.module import SynthesisModule

__all__ = ["SynthesisModule"]
