"""In-memory splits: the Split/DataSplits containers, seeded stratified subsets and splits, channel stats."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from zoo.core.errors import InternalError, UsageError
from zoo.data.catalog import DatasetInfo


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8, (N, C, H, W), contiguous, on CPU
    labels: torch.Tensor  # int64, (N,)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise InternalError(
                f"Split images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise InternalError(
                f"Split labels must be int64 of shape ({self.images.shape[0]},), "
                f"got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    def take(self, indices: np.ndarray) -> "Split":
        index = torch.from_numpy(np.asarray(indices, dtype=np.int64))
        return Split(self.images.index_select(0, index), self.labels.index_select(0, index))


@dataclass(frozen=True)
class DataSplits:
    info: DatasetInfo
    train: Split
    val: Split  # empty when val_fraction == 0
    test: Split
    mean: tuple[float, ...]  # per channel on the 0..1 pixel scale, from the train split only
    std: tuple[float, ...]
    source: str  # folder the files were read from
    fingerprint: dict
    # the training images before any --subset (what a full-size run splits into train and val)
    pool_size: int | None = None


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` samples with the class proportions of `labels`."""
    from sklearn.model_selection import train_test_split  # here: importing sklearn costs ~1 s per CLI call

    indices = np.arange(len(labels))
    if size == len(labels):
        return indices
    try:
        chosen, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    except ValueError as e:  # sklearn explains which class or size does not fit
        raise UsageError(
            f"cannot take a stratified subset of {size} from {len(labels)} images: {e}"
        ) from None
    return np.sort(chosen)


# The validation fraction a run splits off its training images unless told otherwise (TrainConfig's)
DEFAULT_VAL_FRACTION = 0.1


def split_problem(counts: Sequence[int], val_fraction: float) -> str | None:
    """Why images of `counts` per class cannot be split stratified with `val_fraction`, and the smallest
    fraction that can, in words; None when they can. A stratified split puts at least one image of every
    class on each side, so it needs two of each and, on each side, as many images as classes."""
    n, k = int(sum(counts)), len(counts)
    if val_fraction == 0 or n == 0:
        return None
    few = [i for i, c in enumerate(counts) if c < 2]
    if few:
        return (
            f"{len(few)} class(es) have fewer than 2 training images, and a validation split needs one of "
            "each on both sides: add images, or train without one (--set val_fraction=0)"
        )
    val = math.ceil(n * val_fraction)  # as scikit-learn rounds a fractional test size
    if val >= k and n - val >= k:
        return None
    lowest = math.ceil(100 * k / n) / 100
    if n - math.ceil(n * lowest) < k:
        return (
            f"{n} training images of {k} classes are too few to split off a validation set of one per class"
        )
    return (
        f"val_fraction={val_fraction:g} gives {val} validation image(s) for {k} classes, fewer than one per "
        f"class: use --set val_fraction={lowest:g} or more"
    )


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, val) positions into `labels`; val holds `val_fraction` of each class."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if val_fraction == 0:
        return indices, indices[:0]
    problem = split_problem(np.unique(labels, return_counts=True)[1].tolist(), val_fraction)
    if problem:
        raise UsageError(f"cannot split {len(labels)} training images: {problem}")
    try:
        train, val = train_test_split(indices, test_size=val_fraction, stratify=labels, random_state=seed)
    except ValueError as e:
        raise UsageError(
            f"cannot split {len(labels)} images with val_fraction={val_fraction}: {e}; "
            "use more images or another val_fraction"
        ) from None
    return np.sort(train), np.sort(val)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std on the 0..1 scale.

    A 256-bin histogram per channel gives exact float64 moments without a float copy of the images
    (which for CIFAR-10 would be 1.2 GB).
    """
    if len(images) == 0:
        raise UsageError("cannot compute normalisation statistics of an empty split")
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / n
        means.append(float(mean))
        stds.append(float(var.sqrt()))
    return tuple(means), tuple(stds)
