"""Models zoo did not make: an ONNX image classifier without zoo's metadata (a Keras, Ultralytics or
torchvision export, a teacher's reference model), run on a dataset zoo knows once its user says how to
feed it.

A zoo export carries that description in its metadata (zoo.export.exported); another tool's file carries
none, so
the user gives it, as options or as a small JSON sidecar with the same keys (`Preprocessing`, their one
home): the dataset whose test set and labels the model is measured on and whose class names predict prints,
the normalisation (`mean`, `std`, per channel on the 0..1 pixel scale), the layout (`nchw` or `nhwc`), the
model's input size (`size`: N or [H, W], --size N or HxW; the test images are resized to it as `zoo predict`
resizes an image file, and it is required where the graph's height or width is symbolic: "any size" is not
the size the model was made for), the classes of the model's outputs in order (`class_names`, a
mapping onto the dataset's labels), and what the outputs are (`outputs`: logits, probabilities or
log-probabilities; by default read from the graph, whose last Softmax or LogSoftmax node says so).

`ForeignFeed` is that description checked against the file's graph and the dataset; `ForeignModel` is a
feed with its ONNX Runtime session, used by compare and predict the way they use an `ExportedModel`; bench
gives a feed its own runners (onnxruntime, OpenVINO). Logits come back in the dataset's class order, so
metrics, agreement and predictions compare with a zoo model's column for column.

A file that claims to be a zoo export (it has a `zoo.format` key) is never run this way, however broken its
metadata: it passes the contract or is refused, so tampering cannot turn a checked file into an unchecked
one.
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zoo.core.errors import UsageError, ZooError
from zoo.core.fileio import read_json_object, sha256_file
from zoo.core.images import STRETCH, fit, parse_size, size_text
from zoo.core.names import RULE, is_valid_name
from zoo.core.schema import ClassName
from zoo.core.validation import first_problem
from zoo.export.exported import (
    CHUNK,
    MAX_ABS_MEAN,
    MIN_STD,
    ExportedModel,
    NoZooMetadata,
    _Finite,
    _Positive,
    check_logits,
    chunk_size,
    chunked_logits,
    is_zoo_export,
    normalise,
    open_model,
    open_session,
)

LAYOUTS = ("nchw", "nhwc")
KEYS = ("dataset", "mean", "std", "layout", "size", "class_names", "outputs")
# What a graph's outputs can be. Every kind becomes log-probabilities up to a constant per image ("logits"
# to the rest of zoo), so softmax, log loss and top-k are right for each: log(p) of probabilities, as they
# are for the other two. `auto` reads the graph.
OUTPUT_KINDS = ("logits", "probabilities", "log-probabilities")
# Ops that pass a Softmax's values through unchanged in value: the graph still ends in that Softmax.
_SAME_VALUES = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast", "Transpose"}
# What a user types to describe a file, for the messages that ask for it.
HOW = (
    "--dataset NAME --mean M --std S (and --layout, --size, --class-names as needed) "
    "or --preprocessing FILE.json"
)
# What bench and compare write in a row or an entry for such a file.
KIND = "foreign ONNX"


def option(key: str) -> str:
    """The command-line option of a sidecar key: class_names -> --class-names."""
    return "--" + key.replace("_", "-")


class Preprocessing(BaseModel):
    """How to feed an ONNX file zoo did not export: the sidecar's keys (every one optional here; `require`
    says which a run needs). `mean` and `std` take one number for every channel, or one per channel."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    dataset: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    mean: Annotated[list[_Finite], Field(min_length=1)] | None = None
    std: Annotated[list[_Positive], Field(min_length=1)] | None = None
    layout: Literal["nchw", "nhwc"] | None = None
    size: Annotated[list[int], Field(min_length=2, max_length=2)] | None = None  # [height, width]
    class_names: Annotated[list[ClassName], Field(min_length=1)] | None = None
    outputs: Literal["auto", "logits", "probabilities", "log-probabilities"] | None = None

    @field_validator("mean", "std", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return [value]
        return value

    @field_validator("size", mode="before")
    @classmethod
    def _side_or_sides(cls, value: Any) -> Any:
        """N (a square) or [H, W], kept as [H, W]; zoo.core.images.parse_size's rule and message."""
        if value is None:
            return None
        if isinstance(value, str):  # a JSON file says 48 or [48, 192]; --size's text is parsed by the CLI
            raise ValueError(f"give a number or [height, width], not the text {value!r}")
        try:
            return list(parse_size(value, ""))
        except ZooError as exc:
            raise ValueError(str(exc).strip()) from None

    @field_validator("layout", "outputs", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def read_preprocessing(path: str | os.PathLike) -> Preprocessing:
    """The sidecar JSON file, validated: a bad file is one line naming the file and the key."""
    path = Path(path)
    text, _ = read_json_object(path, UsageError, fix=f"pass a JSON object with keys {', '.join(KEYS)}")
    try:
        # through JSON in strict mode: "0.5" is not 0.5, and true is not 1
        return Preprocessing.model_validate_json(text, strict=True)
    except ValidationError as exc:
        where, what = first_problem(exc, keys=KEYS)
        raise UsageError(f"{path} is not a valid preprocessing file ({where}: {what})") from None


def preprocessing(sidecar: str | os.PathLike | None = None, **options: Any) -> Preprocessing | None:
    """What the user said about a file: the sidecar's keys, each replaced by the option of the same name
    when that was given (None: not given). None when nothing at all was said: the file must then be a zoo
    export, read through its contract."""
    unknown = set(options) - set(KEYS)
    if unknown:
        raise TypeError(f"unknown preprocessing keys {sorted(unknown)}")
    given = {k: v for k, v in options.items() if v is not None}
    if sidecar is None and not given:
        return None
    base = read_preprocessing(sidecar) if sidecar is not None else Preprocessing()
    try:
        told = Preprocessing.model_validate(given, strict=True)
    except ValidationError as exc:
        where, what = first_problem(exc, keys=KEYS)
        key, _, index = where.partition(".")
        at = f" (value {int(index) + 1})" if index.isdigit() else ""
        raise UsageError(f"{option(key)}{at}: {what}") from None
    return base.model_copy(update=told.model_dump(exclude_unset=True))


def require(prep: Preprocessing, path: str | os.PathLike) -> tuple[str, list[float], list[float]]:
    """(dataset, mean, std): what no file can go without.

    mean and std have no default. A model's normalisation is its own (pixels / 255, ImageNet's statistics,
    [-1, 1], raw 0..255 in Keras models with a Rescaling layer): any default is wrong for most files, and a
    wrong one does not fail, it gives a plausible accuracy of a model that never saw its own inputs, which
    reads like a finding. Saying `--mean 0 --std 1` costs one line."""
    missing = [option(k) for k in ("dataset", "mean", "std") if getattr(prep, k) is None]
    if missing:
        raise UsageError(
            f"{path} has no zoo metadata, so zoo must be told how to feed it: {' and '.join(missing)} "
            "missing (its normalisation is its own: --mean 0 --std 1 feeds pixels / 255)"
        )
    return str(prep.dataset), list(prep.mean or ()), list(prep.std or ())


# ---------------------------------------------------------------------------------------------- pixels


def resize_pixels(pixels: np.ndarray, height: int, width: int, resize: str = STRETCH) -> np.ndarray:
    """uint8 (N, C, H, W) pixels at height x width, each image resized as zoo.core.images resizes
    an image file (zoo.core.images.fit: Pillow, bilinear, antialiased when shrinking; stretched, padded or
    cropped as `resize` says): a test image reaches the model as the same picture saved to a file and
    passed to `zoo predict` would."""
    from PIL import Image

    n, c, h, w = pixels.shape
    if (h, w) == (height, width):
        return pixels
    out = np.empty((n, c, height, width), np.uint8)
    for i in range(n):
        if c == 3:
            image = Image.fromarray(np.ascontiguousarray(pixels[i].transpose(1, 2, 0)), "RGB")
            out[i] = np.asarray(fit(image, height, width, resize)).transpose(2, 0, 1)
        else:
            for k in range(c):
                image = Image.fromarray(np.ascontiguousarray(pixels[i, k]), "L")
                out[i, k] = np.asarray(fit(image, height, width, resize))
    return out


def _shape(dims: Sequence[Any]) -> str:
    """A shape as people write it: (batch, 3, 224, 224); a symbolic axis is `batch` first, else `?`."""
    shown = [str(d) if isinstance(d, int) else ("batch" if i == 0 else "?") for i, d in enumerate(dims)]
    return f"({', '.join(shown)})"


def _in_layout(c: int, h: int, w: int, layout: str) -> tuple[int, int, int]:
    return (c, h, w) if layout == "nchw" else (h, w, c)


# ------------------------------------------------------------------------------------------------ feed


@dataclass(frozen=True)
class ForeignFeed:
    """How to feed one foreign file, checked against its graph and the dataset."""

    path: Path
    name: str  # the file's stem, a valid zoo name
    dataset: str
    class_names: tuple[str, ...]  # the dataset's, in label order: what the columns of `logits` mean
    output_classes: tuple[str, ...]  # the model's outputs in order, each a class of the dataset
    input_shape: tuple[int, int, int]  # (C, H, W) the model takes, whatever its layout
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str
    static_batch: bool  # the graph takes exactly one image per call
    input_name: str
    output_name: str
    file_sha256: str
    outputs: str = "logits"  # one of OUTPUT_KINDS
    outputs_source: str = "default"  # "told" (--outputs), "graph" (its last node) or "default" (logits)
    # how an image of another aspect ratio reaches input_shape: the dataset's (zoo.core.images.fit)
    resize_mode: str = STRETCH
    # column j of the dataset-ordered logits is the model's output columns[j]
    columns: tuple[int, ...] = field(repr=False, default=())

    @property
    def label(self) -> str:
        return f"{self.name} ({KIND})"

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata-like description bench, compare and predict read as they read a zoo export's."""
        return {
            "model": self.name,
            "dataset": self.dataset,
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
            "input_name": self.input_name,
            "output_name": self.output_name,
            "output_classes": list(self.output_classes),
            "static_batch": self.static_batch,
            "file_sha256": self.file_sha256,
            "outputs": self.outputs,
            "outputs_source": self.outputs_source,
            "outputs_read_as": self.outputs_said,
            "resize_mode": self.resize_mode,
            "foreign": True,
        }

    @property
    def outputs_said(self) -> str:
        """How the outputs were read, for a row or a title: "probabilities (the graph ends in Softmax)"."""
        why = {
            "told": "as told",
            "graph": f"the graph ends in {_LAST_OP[self.outputs]}",
            "default": "no Softmax",
        }
        return f"{self.outputs} ({why[self.outputs_source]})"

    def record(self) -> dict[str, Any]:
        """What a bench row records of the feed (zoo.inference.bench_results.ForeignFeed)."""
        return {
            "dataset": self.dataset,
            "class_names": list(self.output_classes),
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
            "input_shape": list(self.input_shape),
            "input_name": self.input_name,
            "output_name": self.output_name,
            "static_batch": self.static_batch,
            "outputs": self.outputs,
        }

    def resize(self, pixels: np.ndarray) -> np.ndarray:
        _, h, w = self.input_shape
        return resize_pixels(pixels, h, w, self.resize_mode)

    def to_input(self, x: np.ndarray) -> np.ndarray:
        """A normalised float32 NCHW batch in the graph's layout (transposed after normalising, so the
        normalisation is zoo's one, per channel)."""
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.layout == "nhwc" else x

    def batch(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, C, H, W) pixels as the graph's input: resized, normalised, in its layout (what bench
        times the runtime on, prepared outside the timer)."""
        return self.to_input(normalise(self.resize(pixels), self.mean, self.std))

    def call(self, run: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """`run` (the graph's input -> its raw output) as a function of normalised NCHW batches; a static
        batch axis takes one image per call."""

        def call(x: np.ndarray) -> np.ndarray:
            x = self.to_input(x)
            if self.static_batch:
                return np.concatenate([np.asarray(run(x[i : i + 1])) for i in range(len(x))])
            return run(x)

        return call

    def logits(
        self, run: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, *, chunk: int = CHUNK
    ) -> np.ndarray:
        """float32 (N, classes) logits of uint8 (N, C, H, W) pixels (any size: they are resized to the
        model's input), in the dataset's class order, checked to be one finite number per class."""
        classes = len(self.class_names)
        if not len(pixels):
            return np.zeros((0, classes), np.float32)
        # resized a chunk at a time: a 224x224 copy of a whole test set would take gigabytes
        step = chunk_size(int(np.prod(self.input_shape)), chunk)
        call = self.call(run)
        raw = np.concatenate(
            [
                chunked_logits(call, self.resize(pixels[i : i + step]), self.mean, self.std, chunk=chunk)
                for i in range(0, len(pixels), step)
            ]
        )
        self.check(raw)
        return as_logits(raw, self.outputs, self.path)[:, list(self.columns)]

    def check(self, raw: np.ndarray) -> None:
        classes = len(self.output_classes)
        if raw.ndim != 2 or raw.shape[1] != classes:
            raise UsageError(
                f"{self.path} returns logits of shape {tuple(raw.shape[1:])} per image but "
                f"{self._classes_source()} {classes} classes; pass --class-names for its outputs"
            )
        check_logits(raw, classes, self.path, listed="it was told of", fix="check --mean, --std and --layout")

    def _classes_source(self) -> str:
        return f"{self.dataset} has" if self.output_classes == self.class_names else "--class-names lists"


_LAST_OP = {"probabilities": "Softmax", "log-probabilities": "LogSoftmax", "logits": "no Softmax"}
# Probabilities sum to 1 up to float32 rounding over a few thousand classes.
_SUM_TOLERANCE = 1e-3


def as_logits(raw: np.ndarray, kind: str, path: Path) -> np.ndarray:
    """A graph's outputs as logits: log(p) of probabilities (their softmax is p again, and their cross
    entropy the true log loss), the others as they are. Outputs that cannot be of the kind declared are
    one line: a second softmax of probabilities gave a log loss of 1.56 for a true 0.22, without a word."""
    if kind == "logits":
        return raw
    fix = "pass --outputs logits (or the kind they are)"
    if kind == "log-probabilities":
        if raw.size and (raw.max() > _SUM_TOLERANCE or np.abs(np.exp(raw).sum(1) - 1).max() > _SUM_TOLERANCE):
            raise UsageError(
                f"{path}'s outputs are not log-probabilities (exp of a row does not sum to 1); {fix}"
            )
        return raw
    if raw.size and (
        raw.min() < 0 or raw.max() > 1 + _SUM_TOLERANCE or np.abs(raw.sum(1) - 1).max() > _SUM_TOLERANCE
    ):
        raise UsageError(
            f"{path}'s outputs are not probabilities (values from {raw.min():.3g} to {raw.max():.3g}, rows "
            f"summing to {raw.sum(1).min():.3g}..{raw.sum(1).max():.3g}); {fix}"
        )
    tiny = np.finfo(np.float32).tiny  # a probability of 0 is log(tiny) = -87.3, finite for every metric
    return np.log(np.maximum(raw, tiny)).astype(np.float32)


def output_kind(path: Path, output_name: str, told: str | None) -> tuple[str, str]:
    """(kind, source) of a graph's outputs: what the user said, else the node that makes `output_name`
    (through ops that keep its values), else logits."""
    if told not in (None, "auto"):
        return str(told), "told"
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    made_by = {out: node for node in graph.node for out in node.output}
    node = made_by.get(output_name)
    while node is not None and node.op_type in _SAME_VALUES and node.input:
        node = made_by.get(node.input[0])
    kinds = {"Softmax": "probabilities", "LogSoftmax": "log-probabilities"}
    if node is not None and node.op_type in kinds:
        return kinds[node.op_type], "graph"
    return "logits", "default"


def _output_classes(prep: Preprocessing, dataset_classes: Sequence[str], dataset: str) -> tuple[int, ...]:
    """The dataset label of each of the model's outputs, from `class_names` (default: the dataset's order).

    Every class of the dataset exactly once: per-class figures, agreement and compare's check that both
    models name the same classes all need a model that can answer every label of the test set."""
    if prep.class_names is None:
        return tuple(range(len(dataset_classes)))
    index = {name: i for i, name in enumerate(dataset_classes)}
    seen: set[str] = set()
    for name in prep.class_names:
        if name not in index:
            raise UsageError(
                f"--class-names: {name!r} is not a class of {dataset} (its classes: "
                f"{', '.join(dataset_classes)})"
            )
        if name in seen:
            raise UsageError(f"--class-names: {name!r} appears twice; name each output's class once")
        seen.add(name)
    if len(prep.class_names) != len(dataset_classes):
        missing = [n for n in dataset_classes if n not in seen]
        raise UsageError(
            f"--class-names lists {len(prep.class_names)} classes but {dataset} has {len(dataset_classes)} "
            f"(missing: {', '.join(missing)}); name the class of every output, each class once"
        )
    return tuple(index[name] for name in prep.class_names)


def _check_input(
    inp: Any,
    path: Path,
    want: tuple[int, int, int],
    layout: str,
    told: str,
    *,
    declared: bool,
    dataset: str,
    dataset_size: tuple[int, int],
) -> bool:
    """The graph's one input against (C, H, W) in `layout`; returns whether its batch axis is static.

    A symbolic height or width takes any size, but a model was made for one: without a size the user
    `declared`, the dataset's would be a guess (48x48 text lines fed to a model of 48x192 ones scored
    59% for its 90%), so it is asked for."""
    got = list(inp.shape)
    axes = "(batch, C, H, W)" if layout == "nchw" else "(batch, H, W, C)"
    if inp.type != "tensor(float)":
        raise UsageError(
            f"{path} takes {inp.type} inputs ({inp.name!r}); zoo feeds float32 images, normalised by --mean "
            "and --std"
        )
    if len(got) != 4:
        raise UsageError(
            f"{path} takes inputs of shape {_shape(got)} ({inp.name!r}), not a batch of images {axes} "
            f"in {layout}"
        )
    c, h, w = want
    expected = [got[0], *_in_layout(c, h, w, layout)]
    gh, gw = (got[2], got[3]) if layout == "nchw" else (got[1], got[2])
    if all(not isinstance(g, int) or g == e for g, e in zip(got[1:], expected[1:], strict=True)):
        free = [side for side, dim in (("height", gh), ("width", gw)) if not isinstance(dim, int)]
        if free and not declared:
            dh, dw = dataset_size
            raise UsageError(
                f"{path} takes inputs {_shape(got)} ({inp.name!r}) of any {' and '.join(free)}, which does "
                f"not say what size it was made for: pass --size HxW (--size {size_text(dh, dw)} feeds the "
                f"{dh}x{dw} images of {dataset} as they are)"
            )
        return _batch_axis(got[0], path)
    other = "nhwc" if layout == "nchw" else "nchw"
    if all(
        not isinstance(g, int) or g == e for g, e in zip(got[1:], _in_layout(c, h, w, other), strict=True)
    ):
        fix = f"pass --layout {other}"
    else:
        gc = got[1] if layout == "nchw" else got[3]
        if isinstance(gc, int) and gc != c:
            fix = f"it takes {gc}-channel images, not the dataset's {c}-channel ones"
        elif isinstance(gh, int) and isinstance(gw, int):
            fix = f"pass --size {size_text(gh, gw)} to resize the test images"
        elif isinstance(gh, int):
            fix = f"pass --size {gh}xW, W the width it was made for"
        else:
            fix = f"pass --size Hx{gw}, H the height it was made for"
    raise UsageError(
        f"{path} takes inputs {_shape(got)} ({inp.name!r}) but {told} {_shape(expected)}, both as {axes}; "
        f"{fix}"
    )


def _batch_axis(dim: Any, path: Path) -> bool:
    if not isinstance(dim, int):
        return False
    if dim != 1:
        raise UsageError(
            f"{path} takes batches of exactly {dim} images (a static batch axis); zoo runs a static batch "
            "axis of 1 only: export it with a dynamic batch axis or a batch of 1"
        )
    return True


def _model_name(path: Path) -> str:
    name = path.stem.removesuffix(".onnx")
    if not is_valid_name(name):
        raise UsageError(
            f"the file name {name!r} becomes the model's name, which must use {RULE}; rename or copy the file"
        )
    return name


def _per_channel(
    mean: list[float], std: list[float], channels: int, dataset: str
) -> tuple[list[float], list[float]]:
    """mean and std with one value for each of the dataset's channels (one value stands for all),
    refused where they would overflow the inputs or drown the pixels."""
    for key, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise UsageError(
                f"{option(key)} gives {len(values)} values but {dataset} images have {channels} channel(s); "
                "give one value for every channel or one per channel"
            )
    mean = mean * channels if len(mean) == 1 else mean
    std = std * channels if len(std) == 1 else std
    for i, value in enumerate(std):
        if value < MIN_STD:
            raise UsageError(f"--std (value {i + 1}): {value:g} is below {MIN_STD:g} (inputs would overflow)")
    for i, value in enumerate(mean):
        if abs(value) > MAX_ABS_MEAN:
            raise UsageError(f"--mean (value {i + 1}): {value:g} is outside ±{MAX_ABS_MEAN:g}")
    return mean, std


def _one_input(path: Path, session: Any) -> tuple[Any, Any]:
    """The graph's input and its first output: zoo feeds one batch of images and reads one answer."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        names = ", ".join(repr(i.name) for i in inputs)
        raise UsageError(
            f"{path} has {len(inputs)} inputs ({names}) and {len(outputs)} outputs; zoo feeds image "
            "classifiers with one input, a batch of images"
        )
    return inputs[0], outputs[0]


def _check_output(out: Any, path: Path, classes: int, source: str, dataset: str) -> None:
    """The graph's output is (batch, classes), `source` saying where the number of classes comes from."""
    shape = list(out.shape)
    if len(shape) != 2:
        raise UsageError(
            f"{path} gives outputs of shape {_shape(shape)} ({out.name!r}), not (batch, classes): "
            f"(batch, {classes}) since {source} {classes} classes"
        )
    if isinstance(shape[1], int) and shape[1] != classes:
        raise UsageError(
            f"{path} gives outputs of shape {_shape(shape)} ({out.name!r}) but {source} {classes} classes: "
            f"(batch, {classes}); it was not made for {dataset}"
        )


def describe(path: str | os.PathLike, prep: Preprocessing, session: Any) -> ForeignFeed:
    """The feed of a file without zoo metadata: what the user said, checked against the dataset and the
    session's graph. Every mismatch is one UsageError naming both shapes."""
    from zoo.data import get_dataset_info  # the data package is not needed to read a file

    path = Path(path)
    dataset, mean, std = require(prep, path)
    name = _model_name(path)
    info = get_dataset_info(dataset)
    c, h, w = info.image_shape
    dataset_size = (h, w)
    if prep.size is not None:
        h, w = prep.size
    mean, std = _per_channel(mean, std, c, info.name)
    layout = prep.layout or "nchw"
    order = _output_classes(prep, info.class_names, info.name)
    inp, out = _one_input(path, session)
    told = f"--size {size_text(h, w)} gives" if prep.size is not None else f"{info.name} images are"
    static = _check_input(
        inp,
        path,
        (c, h, w),
        layout,
        told,
        declared=prep.size is not None,
        dataset=info.name,
        dataset_size=dataset_size,
    )
    source = f"{info.name} has" if prep.class_names is None else "--class-names lists"
    _check_output(out, path, len(order), source, info.name)
    outputs, outputs_source = output_kind(path, out.name, prep.outputs)
    return ForeignFeed(
        path=path,
        name=name,
        dataset=info.name,
        class_names=tuple(info.class_names),
        output_classes=tuple(info.class_names[i] for i in order),
        input_shape=(c, h, w),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        layout=layout,
        static_batch=static,
        input_name=inp.name,
        output_name=out.name,
        file_sha256=sha256_file(path),
        outputs=outputs,
        outputs_source=outputs_source,
        resize_mode=info.resize,
        columns=tuple(int(j) for j in np.argsort(order)),
    )


# ----------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ForeignModel:
    """A foreign file's feed and its ONNX Runtime session: what compare and predict use in place of an
    `ExportedModel` (the same `path`, `metadata`, `class_names`, `input_shape` and `logits`)."""

    feed: ForeignFeed
    session: Any

    @property
    def path(self) -> Path:
        return self.feed.path

    @property
    def metadata(self) -> dict[str, Any]:
        return self.feed.metadata

    @property
    def class_names(self) -> list[str]:
        return list(self.feed.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.feed.input_shape

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs of a batch already in the graph's layout."""
        return self.session.run([self.feed.output_name], {self.feed.input_name: x})[0]

    def logits(self, pixels: np.ndarray, *, chunk: int = CHUNK) -> np.ndarray:
        """float32 (N, classes) logits of uint8 (N, C, H, W) pixels, in the dataset's class order."""
        return self.feed.logits(self.run, pixels, chunk=chunk)


def open_foreign(
    path: str | os.PathLike,
    prep: Preprocessing,
    *,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    threads: int | None = None,
    sequential: bool = False,
) -> ForeignModel:
    """Open a file without zoo metadata as the user described it; a zoo export is refused (its metadata
    says how to feed it, and a broken one must stay refused)."""
    path = Path(path)
    if is_zoo_export(path):
        raise UsageError(
            f"{path} is a zoo export: its metadata says how to feed it; drop --dataset, --mean, --std, "
            "--layout, --size, --class-names, --outputs and --preprocessing"
        )
    require(prep, path)  # before the session: a missing option costs nothing to say
    session = open_session(path, providers=providers, threads=threads, sequential=sequential)
    return ForeignModel(describe(path, prep, session), session)


def open_any(
    path: str | os.PathLike,
    prep: Preprocessing | None,
    *,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    threads: int | None = None,
    sequential: bool = False,
) -> ExportedModel | ForeignModel:
    """A zoo export through its contract when nothing was said about the file, else a foreign file as
    described (open_foreign). A file without zoo metadata and no description is the contract's error
    with the options that would describe it."""
    if prep is None:
        try:
            return open_model(path, providers=providers, threads=threads, sequential=sequential)
        except NoZooMetadata as exc:
            raise NoZooMetadata(f"{exc}, or say how to feed a model zoo did not make: {HOW}") from None
    return open_foreign(path, prep, providers=providers, threads=threads, sequential=sequential)


def inspect(path: str | os.PathLike, prep: Preprocessing) -> ForeignFeed:
    """The checked feed of a foreign file, its session closed: bench opens the file once per runtime."""
    return open_foreign(path, prep).feed
