"""MTT, trajectory matching: the method, its student, its experts and their buffer.

``MTT`` (``method``) matches a student trained on the synthetic set (``student.unroll``) to
expert trajectories; ``train_experts`` (``train``) trains a buffer of experts (split over
processes, resumable, extendable) with ``ExpertTraining`` (``expert``), the ``train_experts.py``
command is ``cli``; ``ExpertBuffer`` (``buffer``) reads one back.
"""

from dcl.methods.mtt.buffer import ExpertBuffer
from dcl.methods.mtt.expert import ExpertTraining, expert_seed
from dcl.methods.mtt.manifest import default_buffer_path, describe, manifest_differences
from dcl.methods.mtt.method import MTT
from dcl.methods.mtt.train import (
    ExpertSettings,
    buffer_manifest,
    train_experts,
    training_tensors,
)

__all__ = [
    "MTT",
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
