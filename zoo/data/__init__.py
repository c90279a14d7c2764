"""Datasets: find, verify and download the official files, load them into memory, split, batch, augment.

Typical use::

    load("fashion-mnist") -> DataSplits(train, val, test, mean, std, fingerprint)
    add_folder_dataset("pets", "photos/") -> artifacts/data/pets/; then load("pets") as above
    iterate_batches(splits.train, 256, shuffle=True) -> uint8 batches
    Normalizer(mean, std, device)(images) -> float batches; augment_batch(...) on those
"""

from zoo.data.augment import AugmentConfig, augment_batch, with_augmented_copies
from zoo.data.batches import Normalizer, epoch_plan, iterate_batches
from zoo.data.catalog import DatasetInfo, builtin_dataset_names
from zoo.data.fetch import fetch
from zoo.data.folders import (
    AddResult,
    FolderStatus,
    add_folder_dataset,
    folder_dataset_names,
    folder_status,
    is_folder_dataset,
    remove_folder_dataset,
)
from zoo.data.loading import load, load_raw
from zoo.data.locate import find_dataset
from zoo.data.lookup import dataset_names, get_dataset_info
from zoo.data.splits import DataSplits, Split
from zoo.data.status import DatasetStatus, FileStatus, dataset_status

__all__ = [
    "AddResult",
    "AugmentConfig",
    "DataSplits",
    "DatasetInfo",
    "DatasetStatus",
    "FileStatus",
    "FolderStatus",
    "Normalizer",
    "Split",
    "add_folder_dataset",
    "augment_batch",
    "builtin_dataset_names",
    "dataset_names",
    "dataset_status",
    "epoch_plan",
    "fetch",
    "find_dataset",
    "folder_dataset_names",
    "folder_status",
    "get_dataset_info",
    "is_folder_dataset",
    "iterate_batches",
    "load",
    "load_raw",
    "remove_folder_dataset",
    "with_augmented_copies",
]
