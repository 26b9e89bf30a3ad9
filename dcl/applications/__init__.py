"""Applications of condensed sets: class-incremental continual learning and an NAS proxy."""

from dcl.applications.condense import class_subset, condense_dm
from dcl.applications.continual import (
    ContinualSettings,
    class_orders,
    run_continual,
    run_order,
    split_steps,
)
from dcl.applications.nas import Candidate, run_search, search_space, train_candidate
from dcl.applications.ranking import average_ranks, spearman, top_k_overlap
from dcl.plot import line_plot

__all__ = [
    "Candidate",
    "ContinualSettings",
    "average_ranks",
    "class_orders",
    "class_subset",
    "condense_dm",
    "line_plot",
    "run_continual",
    "run_order",
    "run_search",
    "search_space",
    "spearman",
    "split_steps",
    "top_k_overlap",
    "train_candidate",
]
