"""Datasets: find, verify and download the official files, load them into memory, split, batch, augment.

Typical use::

    load("fashion-mnist") -> DataSplits(train, val, test, mean, std, fingerprint)
    iterate_batches(splits.train, 256, shuffle=True) -> uint8 batches
    Normalizer(mean, std, device)(images) -> float batches; augment_batch(...) on those
"""

from zoo.data.augment import AugmentConfig, augment_batch, with_augmented_copies
from zoo.data.batches import Normalizer, epoch_plan, iterate_batches
from zoo.data.catalog import DatasetInfo, dataset_names, get_dataset_info
from zoo.data.fetch import fetch
from zoo.data.loading import load, load_raw
from zoo.data.locate import find_dataset
from zoo.data.splits import DataSplits, Split
from zoo.data.status import DatasetStatus, FileStatus, dataset_status

__all__ = [
    "AugmentConfig",
    "DataSplits",
    "DatasetInfo",
    "DatasetStatus",
    "FileStatus",
    "Normalizer",
    "Split",
    "augment_batch",
    "dataset_names",
    "dataset_status",
    "epoch_plan",
    "fetch",
    "find_dataset",
    "get_dataset_info",
    "iterate_batches",
    "load",
    "load_raw",
    "with_augmented_copies",
]
