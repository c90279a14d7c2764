"""The exported-model contract: what `zoo export` writes and every reader (predict, bench, compare,
report, export itself) relies on. One home for the format string, the tensor names, the variant files,
the metadata keys and their types, the one validating reader and the one session opener.

An export folder holds `model.onnx` (+ `model.int8.onnx`, `model.fp16.onnx`), `parity.json`,
`card.md` and `SHA256SUMS`, which lists every other file; each ONNX file carries the metadata below
as JSON strings in `metadata_props`.
"""

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from zoo.errors import ZooError, first_line
from zoo.fileio import sha256_file

FORMAT = "zoo.onnx/1"
INPUT, OUTPUT = "images", "logits"
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
SUMS = "SHA256SUMS"
EXPORT_FILES = {*VARIANT_FILES.values(), "parity.json", "card.md", SUMS}

_Finite = Annotated[float, Field(allow_inf_nan=False)]
# Text that reaches a terminal: no control characters (an ANSI escape in a class name would restyle it).
_Printable = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]

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
    return metadata


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
