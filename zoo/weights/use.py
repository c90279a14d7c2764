"""Use a shipped model with nothing but the installed package: no dataset, no network, no export.

torchvision's way: the weights carry their own preprocessing (`pretrained_transforms(name)`, as
`weights.transforms()`), and a prediction is the PyTorch model on the user's images. What a shipped model
computes was proven once, when it was shipped (its figures on the whole test set, `zoo weights verify`);
on the user's machine it is re-checked cheaply: a few official test images travel with the weights
(`reference.safetensors`) with the logits the default model gave them, and the model must give them
again before it predicts anything (a damaged file, or a preprocessing that drifted, fails there).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.core.images import STRETCH, decode_image
from zoo.data.batches import Normalizer
from zoo.data.splits import Split
from zoo.models.layers import FlipAveraged
from zoo.train.checkpoint import RunRecord
from zoo.train.loop import predict_logits
from zoo.weights.store import REFERENCE, WeightsError, locate, shipped_weights

REFERENCE_PER_CLASS = 2  # official test images per class shipped with each model's weights
# Logits of one fp32 model on another CPU differ by ~1e-5 (another summation order); a damaged weights
# file, another preprocessing or another architecture by far more.
REFERENCE_TOLERANCE = 1e-3
# What `zoo predict NAME` (zoo.inference.shipped) re-checks before predicting: every fifth reference image
# (4 classes). A ResNet forward is 161 MFLOPs an image, and the cold start is the budget; the sha256 pins
# already catch a damaged file, so these guard the computation itself (architecture, preprocessing,
# kernels). Exports check all 20.
REFERENCE_STEP_AT_PREDICT = 5


def reference_indices(labels: np.ndarray, per_class: int = REFERENCE_PER_CLASS) -> np.ndarray:
    """The first `per_class` test images of each class, in class order: the same images for every model."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def default_logits(
    model: nn.Module, record: RunRecord, images: torch.Tensor, *, tta: bool = False
) -> torch.Tensor:
    """What the default export of `record` computes (no test-time flip unless `tta`), in fp32 on the CPU."""
    model = FlipAveraged(model) if tta else model
    norm = record.normalization
    return predict_logits(model.float().cpu(), images, Normalizer(norm["mean"], norm["std"]))


def make_reference(model: nn.Module, record: RunRecord, test: Split) -> dict[str, torch.Tensor]:
    """The reference tensors shipped beside a model (benchmarks/ship_weights.py writes them)."""
    index = torch.from_numpy(reference_indices(test.labels.numpy()))
    images = test.images[index].contiguous()
    return {
        "images": images,
        "labels": test.labels[index].contiguous(),
        "logits": default_logits(model, record, images).contiguous(),
    }


def check_reference(name: str, model: nn.Module, record: RunRecord, folder: Path, *, step: int = 1) -> None:
    """WeightsError unless the model gives the shipped reference images (every `step`-th) their shipped
    logits."""
    from safetensors.torch import load_file

    path = folder / REFERENCE
    try:
        reference = load_file(path)
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise WeightsError(
            f"{path} cannot be read ({exc}); reinstall zoo or run `zoo weights pull {name}`"
        ) from None
    images, expected = reference["images"][::step], reference["logits"][::step]
    got = default_logits(model, record, images)
    diff = float((got - expected).abs().max()) if len(got) else 0.0
    if diff > REFERENCE_TOLERANCE or not torch.equal(got.argmax(1), expected.argmax(1)):
        raise WeightsError(
            f"{name}'s shipped model does not give its reference images their shipped logits (max |Δ| "
            f"{diff:.2e}, limit {REFERENCE_TOLERANCE:.0e}); reinstall zoo, or measure it: "
            f"zoo weights verify {name}"
        )


@dataclass(frozen=True)
class Transforms:
    """A shipped model's preprocessing (torchvision's `weights.transforms()`): uint8 pixels, a PIL image or
    an image file in; the float tensor the model takes out, normalised as it was trained.

    Takes a uint8 tensor or array of shape (C, H, W) or (N, C, H, W) at the model's size (the official test
    images are), or a PIL image, a path, or a list of them (decoded, converted and resized exactly as
    `zoo predict` does). `invert=True` for photos of dark objects on a light background."""

    name: str
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = STRETCH

    def __call__(self, images: Any, *, invert: bool = False) -> torch.Tensor:
        pixels = self._pixels(images)
        if invert:
            pixels = 255 - pixels
        one = pixels.ndim == 3  # a single image comes back as one, as torchvision's transforms do
        x = Normalizer(self.mean, self.std)(pixels[None] if one else pixels)
        return x[0] if one else x

    def _pixels(self, images: Any) -> torch.Tensor:
        if isinstance(images, list | tuple):
            return torch.stack([self._pixels(i) for i in images])
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        if isinstance(images, torch.Tensor):
            if (
                images.dtype != torch.uint8
                or images.ndim not in (3, 4)
                or tuple(images.shape[-3:]) != self.input_shape
            ):
                c, h, w = self.input_shape
                raise ValueError(
                    f"{self.name} takes uint8 pixels of shape ({c}, {h}, {w}) or (N, {c}, {h}, {w}); got "
                    f"{images.dtype} {tuple(images.shape)}: pass a PIL image or a file to have it resized"
                )
            return images
        c, h, w = self.input_shape
        return torch.from_numpy(decode_image(_source(images), c, h, w, resize=self.resize).pixels)

    def __repr__(self) -> str:
        c, h, w = self.input_shape
        stats = f"mean={list(self.mean)}, std={list(self.std)}"
        return f"Transforms({self.name}: {c}x{h}x{w} {self.resize}, {stats})"


def _source(image: Any) -> Any:
    """A PIL image as the binary file object decode_image opens (PNG, lossless); a path as it is."""
    if hasattr(image, "save") and hasattr(image, "mode"):
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        buffer.seek(0)
        return buffer
    return image


def pretrained_transforms(name: str) -> Transforms:
    """The preprocessing of `name`'s shipped weights, from their run record: what
    `zoo.create_model(name, pretrained=True)` expects its inputs to have gone through."""
    return transforms_of(name, _record(name))


def transforms_of(name: str, record: RunRecord) -> Transforms:
    """The preprocessing a run record says its model was trained with."""
    resize = record.data.get("resize", STRETCH)
    c, h, w = record.input_shape
    return Transforms(
        name,
        (int(c), int(h), int(w)),
        tuple(float(m) for m in record.normalization["mean"]),
        tuple(float(s) for s in record.normalization["std"]),
        str(resize),
    )


def _record(name: str) -> RunRecord:
    from zoo.train.checkpoint import read_record

    shipped_weights(name)  # a variant without weights says why
    return read_record(locate(name).folder)


def reference_data(run_dir: str | Path, record: RunRecord, *, tta: bool = False):
    """DataSplits holding a shipped model's reference images as its test split, for `zoo export NAME
    --pretrained` where the dataset is not installed: parity is checked on them, and the export records the
    shipped figure (proven on the whole test set when shipped) as its own. None for any other run."""
    from zoo.core.errors import ZooError
    from zoo.data.lookup import get_dataset_info
    from zoo.data.splits import DataSplits
    from zoo.weights.store import folder_problem

    folder = Path(run_dir)
    try:
        weights = shipped_weights(record.model)
    except ZooError:
        return None
    if weights.reference_sha256 is None or folder_problem(folder, weights) is not None:
        return None  # not the shipped run itself (a copy, another run of the variant, damaged files)
    from safetensors.torch import load_file

    tensors = load_file(folder / REFERENCE)
    test = Split(tensors["images"], tensors["labels"])
    correct = weights.correct_tta if tta and weights.correct_tta else weights.correct
    figure = {
        "accuracy": correct / weights.n,
        "n": weights.n,
        "source": "shipped figure (zoo weights verify)",
    }
    norm = record.normalization
    return DataSplits(
        info=get_dataset_info(record.dataset),
        train=test,
        val=test.take(np.arange(0)),
        test=test,
        mean=tuple(norm["mean"]),
        std=tuple(norm["std"]),
        source=str(folder / REFERENCE),
        fingerprint={"reference": True, "test_exported": figure},
    )
