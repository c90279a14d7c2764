"""Classify raw pixels with an exported `model.onnx`, using only the file and its metadata.

Nothing here needs the run directory or PyTorch: the ONNX file carries the class names, the input
shape and the normalisation (`zoo export` writes them), so a copied file is enough to predict. An ONNX
file zoo did not export predicts too once told how to feed it (zoo.inference.foreign: the dataset gives the
class
names and the image shape, the user the normalisation and layout).
"""

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.core.errors import UsageError, ZooError
from zoo.core.images import STRETCH, UNSUPPORTED, ImageRefused, check_resize_mode, decode_image
from zoo.export.exported import ExportedModel

if TYPE_CHECKING:
    from zoo.inference.foreign import ForeignModel, Preprocessing


@dataclass
class Prediction:
    """One row per image: the argmax label, its class name, softmax probabilities and raw logits."""

    labels: np.ndarray  # int64 (N,)
    names: list[str]
    probabilities: np.ndarray  # float32 (N, classes)
    logits: np.ndarray  # float32 (N, classes)
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def top(self, k: int = 3) -> list[list[tuple[str, float]]]:
        """The k most probable classes of each image, most probable first."""
        if k < 1:
            raise UsageError(f"top k must be at least 1, got {k}")
        # stable on the negated probabilities: ties keep class order, like argmax does
        order = np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]
        return [
            [(self.class_names[j], float(p[j])) for j in row]
            for row, p in zip(order, self.probabilities, strict=True)
        ]


class OnnxClassifier:
    """An exported model that passed the contract (`zoo.export.exported.open_model`) plus the preprocessing
    its
    zoo metadata describes; or a file zoo did not export, as its user described it (zoo.inference.foreign)."""

    def __init__(self, model: "ExportedModel | ForeignModel") -> None:
        self._model = model
        self.path = model.path
        self.metadata = model.metadata
        self.class_names: list[str] = model.class_names
        self.input_shape: tuple[int, int, int] = model.input_shape
        self.mean: list[float] = [float(m) for m in self.metadata["mean"]]
        self.std: list[float] = [float(s) for s in self.metadata["std"]]
        # how load_image brings an image file to the input's size: what the training images went through
        pre = self.metadata.get("image_preprocessing")
        self.resize: str = (
            pre["resize"].get("mode", STRETCH) if pre else self.metadata.get("resize_mode", STRETCH)
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        preprocessing: "Preprocessing | None" = None,
    ) -> "OnnxClassifier":
        """Open an exported model. `providers` defaults to the CPU; `threads` to ONNX Runtime's choice;
        `preprocessing` says how to feed a file zoo did not export (None: the file must be a zoo export)."""
        import onnxruntime as ort

        from zoo.inference.foreign import open_any  # the foreign layer sits above this one

        path = Path(path)
        if not path.exists():
            raise ZooError(f"{path} does not exist; export a model first with `zoo export`")
        if not path.is_file():
            raise ZooError(f"{path} is not a file; pass the .onnx file itself, e.g. {path / 'model.onnx'}")
        providers = list(providers or ["CPUExecutionProvider"])
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise UsageError(
                f"execution provider {', '.join(missing)} is not available here "
                f"(available: {', '.join(ort.get_available_providers())})"
            )
        if threads is not None and threads < 1:
            raise UsageError(f"threads must be at least 1, got {threads}")

        return cls(open_any(path, preprocessing, providers=providers, threads=threads))

    @property
    def foreign(self) -> bool:
        """Whether the file is not a zoo export (fed as its user described it)."""
        return self.metadata.get("foreign") is True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def classify(self, images: np.ndarray) -> Prediction:
        """Classify uint8 pixels in (H,W), (H,W,C), (C,H,W), (N,H,W), (N,C,H,W) or (N,H,W,C) layout.

        The pixels are normalised as the metadata says, x = (pixels / 255 - mean) / std, in float32 and
        in the same order of operations as training, then run in chunks of CHUNK images; logits that are
        not one finite number per class are an ExportedModelError, never a prediction."""
        from scipy.special import softmax  # here: scipy.special cost every `zoo` command ~0.1-0.2 s to start

        logits = self._model.logits(to_nchw(images, self.input_shape))
        labels = logits.argmax(axis=1).astype(np.int64)
        return Prediction(
            labels=labels,
            names=[self.class_names[i] for i in labels],
            probabilities=softmax(logits, axis=1).astype(np.float32),
            logits=logits,
            class_names=self.class_names,
        )

    def __repr__(self) -> str:
        return f"OnnxClassifier({str(self.path)!r}, model={self.metadata['model']!r})"


def to_nchw(images: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """A uint8 (N, C, H, W) view of `images`, or a UsageError naming what differs from the model's input."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise UsageError(
            f"images must be uint8 pixels (0..255), got {images.dtype}; "
            "pass raw pixels, the model's normalisation is applied for you"
        )
    c, h, w = input_shape
    shape = images.shape
    if images.ndim == 2 and c == 1 and shape == (h, w):
        return images[None, None]
    if images.ndim == 3:
        if shape == (c, h, w):
            return images[None]
        if shape == (h, w, c):
            return images.transpose(2, 0, 1)[None]
        if c == 1 and shape[1:] == (h, w):
            return images[:, None]
    if images.ndim == 4:
        if shape[1:] == (c, h, w):
            return images
        if shape[1:] == (h, w, c):
            return images.transpose(0, 3, 1, 2)
    raise UsageError(_mismatch(shape, (c, h, w)))


def _mismatch(shape: tuple[int, ...], input_shape: tuple[int, int, int]) -> str:
    """Guess the layout of a shape that fits none, to say whether the size or the channels are wrong."""
    c, h, w = input_shape
    layouts = "(H,W), (N,H,W), (N,C,H,W) or (N,H,W,C)"
    if len(shape) not in (2, 3, 4):
        return f"images must have 2 to 4 dimensions, {layouts}; got shape {shape}"
    if len(shape) == 2:
        channels, size = 1, shape
    elif shape[-1] <= 4 < min(shape[-3], shape[-2]):  # channels last
        channels, size = shape[-1], shape[-3:-1]
    else:
        leading = shape[-3]
        channels, size = (leading if len(shape) == 4 or (c > 1 and leading <= 4) else 1), shape[-2:]
    if tuple(size) != (h, w):
        return f"images are {size[0]}x{size[1]} but the model expects {h}x{w}; resize them (load_image does)"
    if channels != c:
        kind = "grayscale" if c == 1 else "RGB" if c == 3 else f"{c}-channel"
        return f"images have {channels} channel(s) but the model expects {c} ({kind}); got shape {shape}"
    return f"images of shape {shape} do not fit the model's input {c}x{h}x{w}; pass {layouts}"


def load_image(
    path: str | os.PathLike, input_shape: Sequence[int], *, invert: bool = False, resize: str = STRETCH
) -> np.ndarray:
    """Read any image PIL can open as uint8 (C, H, W) pixels in the model's size and colour mode, the way
    folder datasets read theirs (zoo.core.images: one decoding path for both).

    Grayscale models get "L", others "RGB"; a different size is resized with bilinear filtering as
    `resize` says: stretch (the aspect ratio not kept), pad (kept, black borders) or crop (kept, the
    centre); `OnnxClassifier.resize` is what the model's training images went through. MNIST and
    Fashion-MNIST show light objects on a black background: a photo of a dark object on white paper needs
    `invert=True` (pixels -> 255 - pixels) or the model sees its negative and guesses badly.
    16-bit images are scaled to 8 bits (0..65535 -> 0..255); 32-bit and float images are refused.
    `image_preprocessing` (zoo.export.exported) describes these steps for clients; change both together."""
    c, h, w = input_shape
    if c not in (1, 3):
        raise UsageError(f"load_image reads grayscale or RGB images; this model takes {c} channels")
    check_resize_mode(resize, "resize")
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        pixels = decode_image(path, c, h, w, resize).pixels
    except ImageRefused as refused:
        if refused.reason == UNSUPPORTED:
            raise UsageError(f"{path} holds {refused.detail}; save it as an 8- or 16-bit image") from None
        raise UsageError(f"{path} is not an image PIL can read ({refused})") from None
    return np.ascontiguousarray(255 - pixels if invert else pixels)


def classify_files(
    classifier: OnnxClassifier, paths: Iterable[str | os.PathLike], *, invert: bool = False, top: int = 3
) -> list[dict[str, Any]]:
    """One plain dict per image file: path, label, class_name, probability and the `top` best classes."""
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    shape, resize = classifier.input_shape, classifier.resize
    images = np.stack([load_image(p, shape, invert=invert, resize=resize) for p in paths])
    prediction = classifier.classify(images)
    return [
        {
            "path": str(path),
            "label": int(label),
            "class_name": name,
            "probability": float(probs[label]),
            "top": [{"class_name": n, "probability": p} for n, p in best],
        }
        for path, label, name, probs, best in zip(
            paths,
            prediction.labels,
            prediction.names,
            prediction.probabilities,
            prediction.top(top),
            strict=True,
        )
    ]
