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
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from zoo.errors import InternalError, ZooError, first_line
from zoo.fileio import sha256_file, write_json_atomic

FORMAT = "zoo.onnx/1"
INPUT, OUTPUT = "images", "logits"
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
# model.onnx -> model.json: the metadata of each ONNX file as plain JSON, for clients without metadata_props
METADATA_FILES = {v: name.removesuffix(".onnx") + ".json" for v, name in VARIANT_FILES.items()}
SUMS = "SHA256SUMS"
EXPORT_FILES = {*VARIANT_FILES.values(), *METADATA_FILES.values(), "parity.json", "card.md", SUMS}
# Images per inference call: bounds the float32 copy of the inputs; larger batches do not run faster on a CPU.
CHUNK = 256

_Finite = Annotated[float, Field(allow_inf_nan=False)]
# Text that reaches a terminal: no control characters (an ANSI escape in a class name would restyle it).
_Printable = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]
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


class ImagePreprocessing(TypedDict):
    """How zoo turns an image file into the model's input (`zoo.predict.load_image`, then the
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
            "model": _Printable,
            "dataset": _Printable,
            "class_names": Annotated[list[_Printable], Field(min_length=1)],
            "input_name": str,
            "output_name": str,
            "input_shape": Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=3, max_length=3)],
            "mean": list[_Finite],
            "std": list[_Positive],
            "weights_sha256": Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")],
            "run_dir": NotRequired[str | None],
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


def encode(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in metadata.items()}


def decode(raw: Mapping[str, str], path: str | os.PathLike) -> dict[str, Any]:
    """JSON-decode `metadata_props` and validate them; keys of other tools stay as plain strings."""
    if "zoo.format" not in raw:
        raise ExportedModelError(f"{path} has no zoo metadata; export it with `zoo export`")
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
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        what = "missing" if error["type"] == "missing" else error["msg"].lower()
        raise ExportedModelError(
            f"{path} has malformed zoo metadata ({where}: {what}); export it again"
        ) from None
    channels = metadata["input_shape"][0]
    for key in ("mean", "std"):
        if len(metadata[key]) != channels:
            raise ExportedModelError(
                f"{path} has malformed zoo metadata ({key} must hold {channels} numbers); export it again"
            )
    problem = _preprocessing_mismatch(metadata)
    if problem:
        raise ExportedModelError(f"{path} has malformed zoo metadata ({problem}); export it again")
    return metadata


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
    for key in ("mean", "std"):
        if pre[key] != metadata[key]:
            return f"image_preprocessing.{key}: differs from {key}"
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
    write_json_atomic(path, dict(metadata))
    return path


def read_metadata_json(path: str | os.PathLike) -> dict[str, Any]:
    """The validated metadata of a model.json, through the same checks as an ONNX file's."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportedModelError(f"{path} does not exist; export the model again") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExportedModelError(f"{path} is not valid JSON ({first_line(exc)}); export it again") from None
    if not isinstance(data, dict):
        raise ExportedModelError(f"{path} must hold one JSON object; export it again")
    return decode(encode(data), path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The validated zoo metadata of an ONNX file (the graph itself is not loaded into a session)."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ExportedModelError(f"{path} does not exist; export a model first with `zoo export`")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for non-ONNX files
        raise ExportedModelError(f"{path} is not a valid ONNX model ({first_line(exc)})") from None
    return decode({p.key: p.value for p in model.metadata_props}, path)


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


def chunked_logits(
    run: Callable[[np.ndarray], np.ndarray],
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    chunk: int = CHUNK,
) -> np.ndarray:
    """float32 logits of uint8 (N, C, H, W) `pixels`, normalised and run `chunk` images at a time through
    `run` (an ONNX session's `session_function`, or bench's OpenVINO and PyTorch runners)."""
    chunks = [
        np.asarray(run(normalise(pixels[i : i + chunk], mean, std)), dtype=np.float32)
        for i in range(0, len(pixels), chunk)
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
    """The one chunked ONNX inference of zoo (export parity, bench, compare, predict): float32 logits of
    uint8 (N, C, H, W) pixels through an ONNX Runtime session."""
    return chunked_logits(session_function(session, output), pixels, mean, std, chunk=chunk)


def check_graph(session: Any, metadata: dict[str, Any], path: str | os.PathLike) -> None:
    """The graph must take what the metadata promises; symbolic dims (the batch) match anything."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise ExportedModelError(f"{path} must have one input and an output; export it with `zoo export`")
    want = [None, *metadata["input_shape"]]
    got = inputs[0].shape
    if len(got) != 4 or any(isinstance(g, int) and g != w for g, w in zip(got[1:], want[1:], strict=True)):
        raise ExportedModelError(
            f"{path} takes inputs of shape {got} but its metadata says "
            f"(batch, {', '.join(map(str, want[1:]))}); export it again"
        )
    classes = outputs[0].shape[-1] if outputs[0].shape else None
    if isinstance(classes, int) and classes != len(metadata["class_names"]):
        raise ExportedModelError(
            f"{path} has {classes} outputs but its metadata lists "
            f"{len(metadata['class_names'])} class names; export it again"
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
