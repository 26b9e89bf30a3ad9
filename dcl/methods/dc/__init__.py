"""DC, gradient matching: the method, its loss, per-class gradients and inner-loop network."""

from dcl.methods.dc.loss import dc_loss, set_batchnorm_eval
from dcl.methods.dc.method import DC, PUBLISHED_LOOPS, default_loops

__all__ = ["DC", "PUBLISHED_LOOPS", "dc_loss", "default_loops", "set_batchnorm_eval"]
