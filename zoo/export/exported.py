"""The exported-model contract: what `zoo export` writes and every reader (predict, bench, compare,
report, export itself) relies on. One home for the format string, the tensor names, the variant files,
the metadata keys and their types, the one validating reader, the one session opener and the one
chunked inference (normalise uint8 pixels, run the session a chunk at a time, float32 logits).

An export folder holds `model.onnx` (+ `model.int8.onnx`, `model.fp16.onnx`), `parity.json`,
`card.md` and `SHA256SUMS`, which lists every other file; each ONNX file carries the metadata below
as JSON strings in `metadata_props`, and the same metadata as plain JSON beside it (`model.json`,
`model.int8.json`, `model.fp16.json`) for clients that cannot read `metadata_props` (onnxruntime-web).
"""

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from zoo.core import jsontext
from zoo.core.errors import InternalError, UsageError, ZooError, first_line
from zoo.core.fileio import read_json_object, sha256_file, write_text_atomic
from zoo.core.images import RESIZE_FILTER, STRETCH, check_resize_mode
from zoo.core.names import RULE, is_valid_name
from zoo.core.schema import MAX_CHANNELS, MAX_SIDE, ClassName, Printable
from zoo.core.validation import first_problem

FORMAT = "zoo.onnx/1"
INPUT, OUTPUT = "images", "logits"
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
# model.onnx -> model.json: the metadata of each ONNX file as plain JSON, for clients without metadata_props
METADATA_FILES = {v: name.removesuffix(".onnx") + ".json" for v, name in VARIANT_FILES.items()}
SUMS = "SHA256SUMS"
EXPORT_FILES = {*VARIANT_FILES.values(), *METADATA_FILES.values(), "parity.json", "card.md", SUMS}
# Images per inference call: bounds the float32 copy of the inputs; larger batches do not run faster on a CPU.
CHUNK = 256
# ... and fewer where the images are large: the float32 copy of one call stays under this many bytes.
CHUNK_BYTES = 64 << 20
# x = (pixels / 255 - mean) / std: a tiny std makes x huge and the logits inf or NaN; 1e-6 allows inputs up to
# ~1e6 (pixel statistics have std ~0.1..0.5), a large mean would overflow float32 the same way.
MIN_STD, MAX_ABS_MEAN = 1e-6, 1e3
# What image_preprocessing.scale must say: normalise divides by 255, whatever a file claims.
SCALE = 255.0

_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_Size = Annotated[int, Field(gt=0)]


class Resize(TypedDict):
    height: _Size
    width: _Size
    filter: Literal["bilinear"]
    # Pillow widens its filter when it shrinks (an area average); a plain bilinear sample of 4 pixels
    # (OpenCV's INTER_LINEAR, a GPU texture) aliases a large photo into other pixels than zoo's.
    antialias: bool
    keep_aspect_ratio: bool
    # how an image of another aspect ratio becomes height x width (zoo.core.images.fit): stretch (to the size,
    # the ratio not kept), pad (kept: resized to fit inside, centred on black 0) or crop (kept: resized to
    # cover, the centre kept). Files written before it have none: stretch.
    mode: NotRequired[Literal["stretch", "pad", "crop"]]


class ImagePreprocessing(TypedDict):
    """How zoo turns an image file into the model's input (`zoo.inference.predict.load_image`, then the
    normalisation), in `steps` order: what a client must repeat for its predictions to match zoo's."""

    steps: list[Literal["exif_orientation", "color", "resize", "invert", "normalize"]]
    color: Literal["grayscale", "rgb"]
    # (R, G, B) weights of the grayscale conversion (Pillow's "L", ITU-R 601-2 luma); null for RGB models
    grayscale_weights: list[_Finite] | None
    alpha: Literal["ignored"]
    resize: Resize
    # light-on-dark: the training images show light objects on a black background (MNIST, Fashion-MNIST)
    polarity: Literal["light-on-dark", "natural"]
    # when-dark-on-light: a photo of a dark object on a light background must be inverted (255 - pixels)
    # after resizing, or the model sees its negative (`zoo predict --invert`); never: natural photos
    invert: Literal["when-dark-on-light", "never"]
    scale: _Positive  # x = (pixels / scale - mean) / std
    mean: list[_Finite]
    std: list[_Positive]
    layout: Literal["NCHW"]
    dtype: Literal["float32"]


# Functional form: the format key has a dot in it.
ModelMetadata = with_config(ConfigDict(extra="allow"))(
    TypedDict(
        "ModelMetadata",
        {
            "zoo.format": str,
            "model": Printable,
            "dataset": Printable,
            "class_names": Annotated[list[ClassName], Field(min_length=1)],
            "input_name": str,
            "output_name": str,
            "input_shape": Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=3, max_length=3)],
            "mean": list[_Finite],
            "std": list[_Positive],
            "weights_sha256": Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")],
            "run_dir": NotRequired[str | None],
            # a folder dataset's images by digest (zoo.data.identity); null for built-in datasets
            "data_tensors_sha256": NotRequired[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None],
            "study": NotRequired[str | None],
            "trial": NotRequired[int | None],
            "num_params": NotRequired[int],
            "hyperparameters": NotRequired[dict[str, Any]],
            "metrics": NotRequired[dict[str, dict[str, Any]]],
            "export_options": NotRequired[dict[str, Any]],
            "image_preprocessing": NotRequired[ImagePreprocessing],
        },
    )
)
_ADAPTER = TypeAdapter(ModelMetadata)


class ExportedModelError(ZooError):
    """A file is not a zoo export, or its metadata breaks the contract."""


class NoZooMetadata(ExportedModelError):
    """A file carries no `zoo.format` key: not a zoo export at all (a model zoo did not make, which
    zoo.inference.foreign runs when told how to feed it), as opposed to a zoo export whose metadata is
    broken."""


def encode(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in metadata.items()}


def decode(raw: Mapping[str, str], path: str | os.PathLike) -> dict[str, Any]:
    """JSON-decode `metadata_props` and validate them; keys of other tools stay as plain strings."""
    if "zoo.format" not in raw:
        raise NoZooMetadata(f"{path} has no zoo metadata; export it with `zoo export`")
    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            metadata[key] = json.loads(value)
        except ValueError:
            metadata[key] = value  # another tool's plain-text entry
    if metadata["zoo.format"] != FORMAT:
        raise ExportedModelError(
            f"{path} is in format {metadata['zoo.format']!r} but this zoo reads {FORMAT!r}; "
            "upgrade zoo or export the model again"
        )
    try:
        metadata = _ADAPTER.validate_json(json.dumps(metadata), strict=True)
    except ValidationError as exc:
        where, what = first_problem(exc)
        raise ExportedModelError(
            f"{path} has malformed zoo metadata ({where}: {what}); export it again"
        ) from None
    channels = metadata["input_shape"][0]
    for key in ("mean", "std"):
        if len(metadata[key]) != channels:
            raise ExportedModelError(
                f"{path} has malformed zoo metadata ({key} must hold {channels} numbers); export it again"
            )
    problem = _untrusted_value(metadata) or _preprocessing_mismatch(metadata)
    if problem:
        raise ExportedModelError(f"{path} has malformed zoo metadata ({problem}); export it again")
    return metadata


def _untrusted_value(metadata: dict[str, Any]) -> str | None:
    """What the types allow but zoo must not use: names that would become paths, input sizes that would
    exhaust memory, normalisations that turn pixels into inf or NaN, class names that collide."""
    for key in ("model", "dataset"):  # both end up in file and folder names
        if not is_valid_name(metadata[key]):
            return f"{key}: {metadata[key]!r} is not a valid name: use {RULE}"
    c, h, w = metadata["input_shape"]
    if c > MAX_CHANNELS or h > MAX_SIDE or w > MAX_SIDE:
        return (
            f"input_shape: {c}x{h}x{w} is larger than zoo reads "
            f"(at most {MAX_CHANNELS} channels of {MAX_SIDE}x{MAX_SIDE} pixels)"
        )
    for i, std in enumerate(metadata["std"]):
        if std < MIN_STD:
            return f"std.{i}: {std:g} is below the minimum {MIN_STD:g} (inputs would overflow)"
    for i, mean in enumerate(metadata["mean"]):
        if abs(mean) > MAX_ABS_MEAN:
            return f"mean.{i}: {mean:g} is outside ±{MAX_ABS_MEAN:g} (inputs would overflow)"
    seen: set[str] = set()
    for i, name in enumerate(metadata["class_names"]):
        if name in seen:  # per-class figures are keyed by name: a duplicate would merge two classes
            return f"class_names.{i}: {name!r} appears twice"
        seen.add(name)
    return None


def _preprocessing_mismatch(metadata: dict[str, Any]) -> str | None:
    """image_preprocessing repeats the input size, colour and normalisation: it must agree with the rest."""
    pre = metadata.get("image_preprocessing")
    if pre is None:
        return None
    c, h, w = metadata["input_shape"]
    if (pre["resize"]["height"], pre["resize"]["width"]) != (h, w):
        return (
            f"image_preprocessing.resize: {pre['resize']['height']}x{pre['resize']['width']} is not {h}x{w}"
        )
    mode = pre["resize"].get("mode", "stretch")
    if pre["resize"]["keep_aspect_ratio"] != (mode != "stretch"):
        return f"image_preprocessing.resize.keep_aspect_ratio: does not fit mode {mode}"
    for key in ("mean", "std"):
        if pre[key] != metadata[key]:
            return f"image_preprocessing.{key}: differs from {key}"
    if pre["scale"] != SCALE:
        return f"image_preprocessing.scale: zoo divides pixels by {SCALE:g}, not {pre['scale']:g}"
    if pre["color"] != {1: "grayscale", 3: "rgb"}.get(c):
        return f"image_preprocessing.color: {pre['color']} does not fit {c} input channel(s)"
    if (pre["grayscale_weights"] is None) != (c != 1) or len(pre["grayscale_weights"] or [0] * 3) != 3:
        return "image_preprocessing.grayscale_weights: three (R, G, B) weights for grayscale, else null"
    return None


def flip_averaged(metadata: Mapping[str, Any]) -> bool:
    """Whether the graph averages each image's logits with its mirror's (`zoo export --tta`)."""
    return (metadata.get("export_options") or {}).get("tta") is True


def metadata_json_path(onnx_path: str | os.PathLike) -> Path:
    """model.onnx -> model.json, model.int8.onnx -> model.int8.json: the plain-JSON copy of its metadata."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.name.removesuffix(".onnx") + ".json")


def write_metadata_json(onnx_path: str | os.PathLike, metadata: Mapping[str, Any]) -> Path:
    """The metadata of `onnx_path` as one JSON object beside it; the values are those of `metadata_props`."""
    path = metadata_json_path(onnx_path)
    try:
        text = jsontext.dumps(dict(metadata))
    except ValueError as exc:
        raise InternalError(f"the metadata of {onnx_path} cannot be written as JSON: {exc}") from None
    write_text_atomic(path, text + "\n")
    return path


def read_metadata_json(path: str | os.PathLike) -> dict[str, Any]:
    """The validated metadata of a model.json, through the same checks as an ONNX file's."""
    path = Path(path)
    _, data = read_json_object(path, ExportedModelError, fix="export the model again")
    return decode(encode(data), path)


def raw_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `metadata_props` of an ONNX file as plain strings, unchecked: what decides whether it is a zoo
    export at all (`zoo.format`) before anything is trusted."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ExportedModelError(f"{path} does not exist; export a model first with `zoo export`")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for non-ONNX files
        raise ExportedModelError(f"{path} is not a valid ONNX model ({first_line(exc)})") from None
    return {p.key: p.value for p in model.metadata_props}


def is_zoo_export(path: str | os.PathLike) -> bool:
    """Whether the file claims to be a zoo export (it has a `zoo.format` key), valid or not: such a file is
    only ever read through the contract (open_model), never as a model zoo did not make."""
    return "zoo.format" in raw_metadata(path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The validated zoo metadata of an ONNX file (the graph itself is not loaded into a session)."""
    return decode(raw_metadata(path), path)


def open_session(
    path: str | os.PathLike,
    *,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    threads: int | None = None,
    sequential: bool = False,
):
    """The one place zoo opens an ONNX Runtime session (predict, export parity, bench, compare).

    `sequential` pins one inter-op thread and sequential execution, as latency benchmarks want.
    ORT's warnings (unused initializers, ...) are not the user's concern, so they are silenced."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    if sequential:
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as exc:  # ORT raises pybind-specific types; the first line says what is wrong
        raise ExportedModelError(f"{path} is not a valid ONNX model ({first_line(exc)})") from None


def normalise(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """float32 (pixels / 255 - mean) / std of uint8 (N, C, H, W) pixels, in the order of operations of
    training (`zoo.data.Normalizer`), so the same pixels give the same bits as in PyTorch."""
    if pixels.dtype != np.uint8 or pixels.ndim != 4:
        raise InternalError(f"expected uint8 (N, C, H, W) pixels, got {pixels.dtype} {pixels.shape}")
    x = pixels.astype(np.float32)
    x /= np.float32(255)
    x -= np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    x /= np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return x


def session_function(session: Any, output: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a normalised batch to the logits of an ONNX Runtime session: its one input, and
    `output`, else the contract's output name, else its first output."""
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    wanted = output if output in outputs else OUTPUT if OUTPUT in outputs else outputs[0]
    return lambda x: session.run([wanted], {name: x})[0]


def chunk_size(per_image: int, chunk: int = CHUNK) -> int:
    """Images per inference call: `chunk`, or fewer where their float32 copy would pass CHUNK_BYTES."""
    return max(1, min(chunk, CHUNK_BYTES // max(1, 4 * per_image)))


def chunked_logits(
    run: Callable[[np.ndarray], np.ndarray],
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    chunk: int = CHUNK,
) -> np.ndarray:
    """float32 logits of uint8 (N, C, H, W) `pixels`, normalised and run `chunk` images at a time (fewer
    for large images, see chunk_size) through `run` (an ExportedModel's `run`, or bench's OpenVINO and
    PyTorch runners)."""
    step = chunk_size(int(np.prod(pixels.shape[1:])), chunk)
    chunks = [
        np.asarray(run(normalise(pixels[i : i + step], mean, std)), dtype=np.float32)
        for i in range(0, len(pixels), step)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def onnx_logits(
    session: Any,
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    output: str | None = None,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Chunked float32 logits of uint8 (N, C, H, W) pixels through a bare ONNX Runtime session: for files
    being built (export's parity runs before the metadata is written); read files through open_model."""
    return chunked_logits(session_function(session, output), pixels, mean, std, chunk=chunk)


def check_graph(session: Any, metadata: dict[str, Any], path: str | os.PathLike) -> str:
    """The graph must take and give what the metadata promises: one input `input_name` of shape
    (batch, C, H, W), only the batch axis dynamic (symbolic H and W would accept other sizes than the
    metadata's), and an output `output_name` of shape (batch, classes). Returns the output's name; a
    symbolic class axis is checked on the logits themselves (check_logits)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise ExportedModelError(f"{path} must have one input and an output; export it with `zoo export`")
    got, want = list(inputs[0].shape), list(metadata["input_shape"])
    if len(got) != 4 or isinstance(got[0], int) or got[1:] != want:
        raise ExportedModelError(
            f"{path} takes inputs of shape {got} but its metadata says "
            f"(batch, {', '.join(map(str, want))}) with only the batch axis dynamic; export it again"
        )
    if inputs[0].name != metadata["input_name"]:
        raise ExportedModelError(
            f"{path} names its input {inputs[0].name!r} but its metadata says input_name "
            f"{metadata['input_name']!r}; export it again"
        )
    output = next((o for o in outputs if o.name == metadata["output_name"]), None)
    if output is None:
        raise ExportedModelError(
            f"{path} has no output {metadata['output_name']!r} (output_name in its metadata); export it again"
        )
    classes, shape = len(metadata["class_names"]), list(output.shape)
    if len(shape) != 2:
        raise ExportedModelError(
            f"{path} gives outputs of shape {shape}, not (batch, classes); export it with `zoo export`"
        )
    if isinstance(shape[1], int) and shape[1] != classes:
        raise ExportedModelError(
            f"{path} has {shape[1]} outputs but its metadata lists {classes} class names; export it again"
        )
    return output.name


def check_logits(
    logits: np.ndarray,
    classes: int,
    path: str | os.PathLike,
    *,
    listed: str = "its metadata lists",
    fix: str = "export it again",
) -> None:
    """What a graph returned must be one finite logit per class: a symbolic class axis can hide another
    width, and NaN logits give an argmax of 0 and NaN probabilities, a wrong answer that looks like one.
    `listed` says where the class count comes from and `fix` what to do (a model zoo did not make was
    described by its user, not by metadata)."""
    if logits.ndim != 2 or logits.shape[1] != classes:
        raise ExportedModelError(
            f"{path} returns logits of shape {tuple(logits.shape[1:])} but {listed} "
            f"{classes} class names; {fix}"
        )
    if not np.isfinite(logits).all():
        raise ExportedModelError(
            f"{path} returns NaN or infinite logits on these images, so its predictions mean nothing; {fix}"
        )


@dataclass(frozen=True)
class ExportedModel:
    """An ONNX file that passed every check of the contract (open_model): its validated metadata, its
    session, and the output that holds the logits."""

    path: Path
    metadata: dict[str, Any]
    session: Any
    output: str

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata["class_names"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.metadata["input_shape"]
        return c, h, w

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw logits of a normalised float32 (N, C, H, W) batch."""
        return self.session.run([self.output], {self.metadata["input_name"]: x})[0]

    def logits(self, pixels: np.ndarray, *, chunk: int = CHUNK) -> np.ndarray:
        """float32 (N, classes) logits of uint8 (N, C, H, W) pixels, normalised as the metadata says,
        checked to be one finite number per class."""
        if not len(pixels):
            return np.zeros((0, len(self.class_names)), np.float32)
        meta = self.metadata
        logits = chunked_logits(self.run, pixels, meta["mean"], meta["std"], chunk=chunk)
        check_logits(logits, len(meta["class_names"]), self.path)
        return logits


def open_model(
    path: str | os.PathLike,
    *,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    threads: int | None = None,
    sequential: bool = False,
) -> ExportedModel:
    """The one validating open of an exported file (predict, bench, compare, export's final check): the
    metadata is read and checked before a session exists, then the graph is checked against it."""
    path = Path(path)
    metadata = read_metadata(path)
    session = open_session(path, providers=providers, threads=threads, sequential=sequential)
    output = check_graph(session, metadata, path)
    return ExportedModel(path, metadata, session, output)


def check_dataset(metadata: dict[str, Any], path: str | os.PathLike) -> None:
    """Bench and compare run a file on the test set of the dataset it names: the dataset must be known,
    its images the file's input and its labels within the file's classes."""
    from zoo.data import get_dataset_info  # the data package is not needed to read a file

    try:
        info = get_dataset_info(metadata["dataset"])
    except ZooError as exc:
        raise ExportedModelError(f"{path} names a dataset zoo cannot evaluate it on ({exc})") from None
    if list(metadata["input_shape"]) != list(info.image_shape):
        raise ExportedModelError(
            f"{path} expects inputs {metadata['input_shape']} but {info.name} images are "
            f"{list(info.image_shape)}; it was not exported for this dataset"
        )
    if len(metadata["class_names"]) != len(info.class_names):
        raise ExportedModelError(
            f"{path} lists {len(metadata['class_names'])} class names but {info.name} has "
            f"{len(info.class_names)} classes; it was not exported for this dataset"
        )


def read_sums(folder: Path) -> dict[str, str]:
    """{file name: sha256} from the folder's SHA256SUMS; empty when the file is missing."""
    sums: dict[str, str] = {}
    path = folder / SUMS
    if not path.is_file():
        return sums
    for line in path.read_text(errors="replace").splitlines():
        digest, sep, name = line.partition("  ")
        if sep:
            sums[name] = digest
    return sums


def write_sums(folder: Path) -> None:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != SUMS)
    (folder / SUMS).write_text("".join(f"{sha256_file(p)}  {p.name}\n" for p in files))


def is_export_folder(folder: Path) -> bool:
    """A folder zoo may replace as a whole: it holds an export (or is empty), nothing of the user's."""
    if not folder.is_dir():
        return False
    return {p.name for p in folder.iterdir()} <= EXPORT_FILES


# What load_image (zoo.inference.predict) does to an image file, named as image_preprocessing records it for
# clients: one source for both.
GRAYSCALE_WEIGHTS = [0.299, 0.587, 0.114]  # Pillow's "L": ITU-R 601-2 luma
STEPS = ["exif_orientation", "color", "resize", "invert", "normalize"]


def image_preprocessing(
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    polarity: str,
    resize: str = STRETCH,
) -> ImagePreprocessing:
    """What load_image and the normalisation do to an image file, as the typed record an export stores
    for clients (`image_preprocessing` in the metadata and model.json). `polarity` and `resize` (stretch,
    pad or crop) are the training data's."""
    c, h, w = input_shape
    if c not in (1, 3):
        raise UsageError(f"image files become grayscale or RGB inputs; this model takes {c} channels")
    check_resize_mode(resize, "resize")
    return {
        "steps": list(STEPS),
        "color": "grayscale" if c == 1 else "rgb",
        "grayscale_weights": list(GRAYSCALE_WEIGHTS) if c == 1 else None,
        "alpha": "ignored",
        "resize": {
            "height": h,
            "width": w,
            "filter": RESIZE_FILTER,
            "antialias": True,
            "keep_aspect_ratio": resize != STRETCH,
            "mode": resize,  # type: ignore[typeddict-item]
        },
        "polarity": polarity,
        "invert": "when-dark-on-light" if polarity == "light-on-dark" else "never",
        "scale": SCALE,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "layout": "NCHW",
        "dtype": "float32",
    }
