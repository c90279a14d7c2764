"""Feeding a model: mini-batches sliced from in-memory tensors, and uint8 -> normalised float on a device."""

from collections.abc import Iterator, Sequence

import torch

from zoo.core.errors import InternalError, UsageError
from zoo.data.splits import Split


def epoch_plan(n: int, batch_size: int) -> tuple[int, bool]:
    """(optimizer steps per epoch, drop_last) for a training split of `n` images: the one rule both the
    schedule (which is sized by the steps) and the batches (which take the steps) follow.

    Full batches only, since a ragged last batch adds noise to batch-norm statistics; a split smaller
    than one batch is one short batch."""
    if n >= batch_size:
        return n // batch_size, True
    return (1 if n else 0), False


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    with_index: bool = False,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield (uint8 images, int64 labels) batches covering the split once; `with_index` adds each batch's
    positions in the split as a third element.

    Batches are slices (or one index_select per batch when shuffling) of the whole tensors, so an epoch
    costs no per-sample Python work, unlike a Dataset + DataLoader.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(split)
    stop = n - n % batch_size if drop_last else n
    # Drawn on the (CPU) generator so a seed gives the same order anywhere, then moved beside the data.
    order = torch.randperm(n, generator=generator).to(split.images.device) if shuffle else None
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        if order is None:
            batch = split.images[start:end], split.labels[start:end]
            if with_index:  # only built when asked: plain evaluation loops never pay for it
                batch += (torch.arange(start, end, device=split.labels.device),)
        else:
            index = order[start:end]
            batch = split.images.index_select(0, index), split.labels.index_select(0, index)
            if with_index:
                batch += (index,)
        yield batch


class Normalizer:
    """uint8 (N, C, H, W) -> float32 (x/255 - mean)/std on `device`, like ToTensor + Normalize."""

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], device: str | torch.device = "cpu"
    ) -> None:
        if len(mean) != len(std) or len(mean) == 0:
            raise UsageError(f"mean and std need one value per channel, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise UsageError(f"std must be positive in every channel, got {tuple(std)}")
        self.device = torch.device(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.mean.shape[1]:
            raise InternalError(
                f"expected images of shape (N, {self.mean.shape[1]}, H, W), got {tuple(x.shape)}"
            )
        # copy=True: the in-place ops below must never touch the caller's tensor (a float input on device)
        x = x.to(self.device, non_blocking=True).to(torch.float32, copy=True)
        return x.div_(255).sub_(self.mean).div_(self.std)

    @property
    def background(self) -> torch.Tensor:
        """The normalised value of a zero (black) pixel per channel, shaped (1, C, 1, 1)."""
        return -self.mean / self.std

    def __repr__(self) -> str:
        mean, std = self.mean.flatten().tolist(), self.std.flatten().tolist()
        return f"Normalizer(mean={mean}, std={std}, device={self.device})"
