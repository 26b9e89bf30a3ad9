"""Expert trajectories for trajectory matching (MTT): networks trained on the real data, recorded.

``train_experts`` trains a buffer of experts (split over processes, resumable, extendable);
``ExpertBuffer`` reads one back; ``ExpertTraining`` is the LightningModule of one expert.
"""

from dcl.trajectories.buffer import ExpertBuffer
from dcl.trajectories.manifest import default_buffer_path, describe, manifest_differences
from dcl.trajectories.module import ExpertTraining, expert_seed
from dcl.trajectories.train import (
    ExpertSettings,
    buffer_manifest,
    train_experts,
    training_tensors,
)

__all__ = [
    "ExpertBuffer",
    "ExpertSettings",
    "ExpertTraining",
    "buffer_manifest",
    "default_buffer_path",
    "describe",
    "expert_seed",
    "manifest_differences",
    "train_experts",
    "training_tensors",
]
