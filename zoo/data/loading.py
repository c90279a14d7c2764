"""Read a dataset from disk into memory, then split it reproducibly: the one entry point `load`."""

import hashlib
import numbers
import os
from pathlib import Path

import numpy as np
import torch

from zoo.core.errors import DataError, UsageError
from zoo.data.catalog import DatasetSpec
from zoo.data.cifar import read_cifar
from zoo.data.folders import FolderData, is_folder_dataset, read_folder_dataset
from zoo.data.idx import read_idx_pair
from zoo.data.locate import find_dataset, idx_file
from zoo.data.lookup import get_dataset_info, get_dataset_spec
from zoo.data.splits import DataSplits, Split, channel_stats, stratified_split, stratified_subset

PathLike = str | os.PathLike


def _read_idx(spec: DatasetSpec, folder: Path) -> tuple[np.ndarray, ...]:
    _, h, w = spec.info.image_shape
    paths = {f.name: idx_file(folder, f) for f in spec.files}
    num_classes = len(spec.info.class_names)
    train_x, train_y = read_idx_pair(
        paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"], h, w, num_classes
    )
    test_x, test_y = read_idx_pair(
        paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"], h, w, num_classes
    )
    return train_x[:, None], train_y, test_x[:, None], test_y


def _folder_data(name: str, data_dir: PathLike | None) -> FolderData:
    if data_dir is not None:
        raise UsageError(
            f"{name} is a folder dataset (zoo data add); --data-dir names where a built-in dataset's "
            "official files are, and does not apply to it: leave it out"
        )
    return read_folder_dataset(name)


def _split(data: FolderData, split: str) -> Split:
    stored = data.splits[split]
    return Split(stored.images, stored.labels)


def load_raw(name: str, data_dir: PathLike | None = None) -> tuple[Split, Split, str]:
    """(train, test, source folder): the full official sets, validated; for a folder dataset, its
    train and test splits (its val/ split, if any, `load` returns) and its folder under artifacts/data."""
    if is_folder_dataset(name):
        data = _folder_data(name, data_dir)
        return _split(data, "train"), _split(data, "test"), str(data.folder)
    spec = get_dataset_spec(name)
    folder = find_dataset(spec.info.name, data_dir)
    try:
        if spec.format == "idx":
            arrays = _read_idx(spec, folder)
        else:
            arrays = read_cifar(folder, spec.info.class_names)
    except DataError as e:
        raise DataError(
            f"{e}; replace it with the official file (`zoo data fetch {spec.info.name}` downloads it)"
        ) from e
    train_x, train_y, test_x, test_y = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
    return Split(train_x, train_y), Split(test_x, test_y), str(folder)


def load_test(name: str, data_dir: PathLike | None = None) -> Split:
    """The test split of `name` alone: what evaluating a model needs. Nothing is split, so no setting of
    the training split (val_fraction, subset) can refuse an evaluation, and an official IDX dataset's
    training files are not read."""
    if is_folder_dataset(name):
        return _split(_folder_data(name, data_dir), "test")
    spec = get_dataset_spec(name)
    if spec.format != "idx":
        return load_raw(name, data_dir)[1]
    folder = find_dataset(spec.info.name, data_dir)
    _, h, w = spec.info.image_shape
    paths = {f.name: idx_file(folder, f) for f in spec.files}
    try:
        images, labels = read_idx_pair(
            paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"], h, w, len(spec.info.class_names)
        )
    except DataError as e:
        raise DataError(
            f"{e}; replace it with the official file (`zoo data fetch {spec.info.name}` downloads it)"
        ) from e
    return Split(torch.from_numpy(np.ascontiguousarray(images[:, None])), torch.from_numpy(labels))


def content_sha256(*splits: Split) -> str:
    """sha256 over the images and labels of `splits`, in order: identifies the data, not the files."""
    h = hashlib.sha256()
    for split in splits:
        for tensor in (split.images, split.labels):
            h.update(memoryview(tensor.contiguous().numpy()).cast("B"))
    return h.hexdigest()


def check_load_args(val_fraction: float, seed: int, subset: int | None, num_classes: int) -> None:
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, numbers.Real)
        or not 0 <= val_fraction < 1
    ):
        raise UsageError(f"val_fraction must be a number with 0 <= val_fraction < 1, got {val_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise UsageError(f"seed must be an integer in 0..2**32-1, got {seed!r}")  # numpy's seed range
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, numbers.Integral) or subset < 2 * num_classes
    ):
        # two per class: a stratified split needs at least one of each class on each side
        raise UsageError(
            f"subset must be an integer of at least {2 * num_classes} (2 per class), got {subset!r}"
        )


def load(
    name: str,
    *,
    data_dir: PathLike | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    subset: int | None = None,
    subset_at_most: bool = False,
) -> DataSplits:
    """Load `name` and split its training set into train/val, stratified and seeded.

    `subset` first keeps a stratified sample of that many training images (for quick runs); with
    `subset_at_most` it is a cap (tuning's default 15,000 on a folder of 500 images uses all 500), else
    asking for more images than there are is an error. The same arguments always give the same splits.
    A folder dataset (`zoo data add`) loads the same way; where
    its folder had a val/ split, that is the validation set and `val_fraction` splits nothing off.
    """
    info = get_dataset_info(name)
    check_load_args(val_fraction, seed, subset, len(info.class_names))
    given_val: Split | None = None
    extra: dict = {}
    if is_folder_dataset(info.name):
        data = _folder_data(info.name, data_dir)
        full_train, test, source = _split(data, "train"), _split(data, "test"), str(data.folder)
        if "val" in data.splits:
            given_val = _split(data, "val")
        extra = {
            "kind": "folder",
            "images_from": data.manifest.source,
            "source_sha256": data.manifest.source_fingerprint["sha256"],
            "tensors_sha256": data.manifest.tensors_sha256,
            # how images of another aspect ratio became the dataset's size: exports repeat it for predict
            "resize": data.manifest.resize_mode,
            # the folder's own val/ is the validation set: val_fraction split nothing off the training images
            "val_from": "val/ folder" if given_val is not None else "train split",
        }
    else:
        full_train, test, source = load_raw(info.name, data_dir)
    if subset is not None and subset >= len(full_train) and subset_at_most:
        subset = None
    if subset is not None and subset > len(full_train):
        raise UsageError(
            f"subset={subset} is larger than the {len(full_train)} training images of {info.name}"
        )

    labels = full_train.labels.numpy()
    kept = stratified_subset(labels, subset, seed) if subset is not None else np.arange(len(labels))
    if given_val is None:
        train_pos, val_pos = stratified_split(labels[kept], float(val_fraction), seed)
        train, val = full_train.take(kept[train_pos]), full_train.take(kept[val_pos])
    else:
        train, val = full_train.take(kept), given_val
    mean, std = channel_stats(train.images)
    fingerprint = {
        "dataset": info.name,
        "source": source,
        "sha256": content_sha256(full_train, test)
        if given_val is None
        else content_sha256(full_train, given_val, test),
        "val_fraction": float(val_fraction),
        "split_seed": int(seed),
        "subset": None if subset is None else int(subset),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        **extra,
    }
    return DataSplits(
        info=info,
        train=train,
        val=val,
        test=test,
        mean=mean,
        std=std,
        source=source,
        fingerprint=fingerprint,
        pool_size=len(full_train),
    )
