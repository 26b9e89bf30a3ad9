"""Real datasets (registry, compact cache, class-balanced sampling) and synthetic sets."""

from dcl.data.cache import dataset_info, default_data_root, load_split
from dcl.data.images import ClassImages
from dcl.data.module import RealDataModule, load_real
from dcl.data.registry import DATASET_NAMES, DatasetInfo, DatasetNotFoundError, check_name
from dcl.data.synthetic import SyntheticSet

__all__ = [
    "DATASET_NAMES",
    "ClassImages",
    "DatasetInfo",
    "DatasetNotFoundError",
    "RealDataModule",
    "SyntheticSet",
    "check_name",
    "dataset_info",
    "default_data_root",
    "load_real",
    "load_split",
]
