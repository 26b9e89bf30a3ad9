"""Differentiable augmentations: DSA (siamese and per-image) and the DC evaluation augmentation.

Every random draw comes from an explicit ``torch.Generator``; the global RNG is never touched.
"""

from dcl.augmentation.dc import dc_augment
from dcl.augmentation.dsa import (
    DSA,
    DSA_OPS,
    DSA_STRATEGY_FULL,
    DSA_STRATEGY_NO_FLIP,
    DSAParams,
    default_dsa_strategy,
)

__all__ = [
    "DSA",
    "DSA_OPS",
    "DSA_STRATEGY_FULL",
    "DSA_STRATEGY_NO_FLIP",
    "DSAParams",
    "dc_augment",
    "default_dsa_strategy",
]
