"""results.json of `zoo bench`: the one home of its format, `zoo.bench/1`.

`BenchResults` is what `run_bench` returns, what `save_results` writes (through `write_results`, atomically)
and what `read_results` gives back to `zoo report`: every key is typed and checked on read, and a bad file
is one line naming the file and the key. Files of older zoo versions still read: the keys added since
(`block_cv`, `noise`, `summary`, the export identity of each row) are optional. Keys this version does not
know are kept, so a newer zoo's file is not emptied by being read and written again.

Each row names the export it measured twice over: `export` (the folder) and `weights_sha256` (the weights
in the ONNX metadata), with `tta` (whether the graph averages each image with its mirror). The folder may
since hold another export; the sha256 is what ties a row to a run.

A row of an ONNX file zoo did not export (zoo.inference.foreign) has no weights_sha256: `export` is the
file itself,
`file_sha256` the sha256 of its bytes (what identifies it), and `foreign` how it was fed (dataset, class
order, normalisation, layout, input shape, whether its batch axis is static: then only batch 1 is timed).
"""

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from zoo.core import jsontext
from zoo.core.errors import ZooError
from zoo.core.fileio import read_json_object, write_text_atomic
from zoo.core.validation import first_problem
from zoo.inference.foreign import KIND

SCHEMA = "zoo.bench/1"
RESULTS = "results.json"

_NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# Keys a newer zoo wrote are kept (and written back), never read.
_OPEN = ConfigDict(extra="allow")


class BenchResultsError(ZooError):
    """A results.json is missing, not JSON, or breaks the format."""


class Latency(BaseModel):
    """One batch size of one row: the first call apart, then the timed calls."""

    model_config = _OPEN
    batch_size: Annotated[int, Field(gt=0)]
    first_call_ms: _NonNegative
    iterations: Annotated[int, Field(gt=0)]
    p50_ms: _NonNegative
    p90_ms: _NonNegative
    p99_ms: _NonNegative
    mean_ms: _NonNegative
    stdev_ms: _NonNegative
    throughput_ips: _NonNegative
    block_cv: _NonNegative = 0.0
    cv: _NonNegative | None = None
    p99_over_p50: _NonNegative | None = None
    speedup_vs_torch_cpu: _NonNegative | None = None


class ClassCounts(BaseModel):
    model_config = _OPEN
    precision: float
    recall: float
    f1: float
    support: int


class Metrics(BaseModel):
    """zoo.core.metrics.classification_metrics of one row on the test set."""

    model_config = _OPEN
    accuracy: Annotated[float, Field(ge=0, le=1)]
    log_loss: float
    n: Annotated[int, Field(ge=0)]
    per_class: dict[str, ClassCounts]
    confusion_matrix: list[list[int]]
    macro_avg: ClassCounts | None = None
    weighted_avg: ClassCounts | None = None


class ForeignInput(BaseModel):
    """How bench fed an ONNX file zoo did not export: what its figures depend on besides the file."""

    model_config = _OPEN
    dataset: str
    class_names: list[str]  # the model's outputs in order (a mapping onto the dataset's labels)
    mean: list[float]
    std: list[float]
    layout: Literal["nchw", "nhwc"]
    input_shape: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=3, max_length=3)]  # C, H, W
    input_name: str
    output_name: str
    # the graph takes one image per call: only batch 1 was timed, whatever batch sizes were asked
    static_batch: bool
    # what the graph's outputs are (zoo.inference.foreign.OUTPUT_KINDS); rows of zoo before it read logits
    outputs: Literal["logits", "probabilities", "log-probabilities"] = "logits"


class _Row(BaseModel):
    model_config = _OPEN
    model: str
    export: str  # the export folder; for a foreign file, the file
    runtime: str
    variant: str
    # None: a file written before rows recorded their export's identity, an export that cannot be read,
    # or a foreign file (which file_sha256 identifies)
    weights_sha256: _Sha256 | None = None
    tta: bool | None = None
    file_sha256: _Sha256 | None = None
    foreign: ForeignInput | None = None

    @property
    def shown(self) -> str:
        """The model as tables and Markdown name it: a foreign file says so."""
        return f"{self.model} ({KIND})" if self.foreign is not None else self.model


class Measured(_Row):
    available: Literal[True]
    provider: str
    threads: Annotated[int, Field(ge=0)]
    load_seconds: _NonNegative
    accuracy: Annotated[float, Field(ge=0, le=1)]
    log_loss: float
    metrics: Metrics
    agreement_with_torch_cpu: Annotated[float, Field(ge=0, le=1)] | None
    latency: list[Latency]
    confusion_png: str | None = None
    # OpenVINO's settings that decide its speed
    performance_hint: str | None = None
    inference_precision: str | None = None
    streams: int | None = None

    @property
    def label(self) -> str:
        return f"{self.model} {self.runtime} {self.variant}"


class Unavailable(_Row):
    available: Literal[False]
    reason: str


def _kind(row: Any) -> str:
    available = row.get("available") if isinstance(row, dict) else getattr(row, "available", None)
    return "measured" if available is True else "unavailable"


_TAGS = ("measured", "unavailable")
Row = Annotated[
    Annotated[Measured, Tag("measured")] | Annotated[Unavailable, Tag("unavailable")], Discriminator(_kind)
]


class Noise(BaseModel):
    """zoo.inference.noise.assess: was the machine quiet enough to trust the timings?"""

    model_config = _OPEN
    wall_seconds: float | None = None
    other_processes_cpu_seconds: float | None = None
    other_processes_cores: float | None = None
    load_average: list[float] = Field(default_factory=list)
    busy: bool = False
    unstable_rows: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class Machine(BaseModel):
    model_config = _OPEN
    cores: int | None
    threads: Annotated[int, Field(gt=0)]
    cuda: str | None
    torch: str
    onnxruntime: str
    openvino: str | None = None
    noise: Noise = Field(default_factory=Noise)


class Options(BaseModel):
    model_config = _OPEN
    batch_sizes: list[Annotated[int, Field(gt=0)]]
    warmup: Annotated[int, Field(ge=0)]
    iters: Annotated[int, Field(gt=0)]
    min_seconds: _NonNegative
    variants: list[str]


class BenchResults(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    # `schema` would shadow a BaseModel method
    format: Literal["zoo.bench/1"] = Field(SCHEMA, alias="schema")
    created_at: str
    machine: Machine
    options: Options
    unavailable: dict[str, str] = Field(default_factory=dict)
    results: list[Row]
    summary: list[str] = Field(default_factory=list)

    @property
    def measured(self) -> list[Measured]:
        return [r for r in self.results if isinstance(r, Measured)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of results.json. Optional keys left unset (OpenVINO's settings on other rows)
        are left out rather than written as null."""
        data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return {"schema": SCHEMA, **{k: v for k, v in data.items() if k != "schema"}}


def results_json(path: str | os.PathLike, results: BenchResults) -> str:
    """The text of results.json; a NaN or infinite figure is a BenchResultsError naming its key, since
    JSON has no NaN (Python would write one, and every strict reader would refuse the whole file)."""
    try:
        return jsontext.dumps(results.to_dict()) + "\n"
    except ValueError as exc:
        raise BenchResultsError(f"cannot write {path}: {exc}") from None


def write_results(path: str | os.PathLike, results: BenchResults) -> None:
    write_text_atomic(path, results_json(path, results))


def read_results(path: str | os.PathLike) -> BenchResults:
    """The validated results of one `zoo bench`; BenchResultsError (one line, naming the file and the key)
    when the file is missing, not JSON or not a `zoo.bench/1` file."""
    path = Path(path)
    text, data = read_json_object(
        path, BenchResultsError, fix="run `zoo bench` again", missing="run `zoo bench` to write it"
    )
    if data.get("schema") != SCHEMA:
        found = data.get("schema")
        raise BenchResultsError(
            f"{path} is not a {SCHEMA} results file (schema {found!r}); run `zoo bench` again"
        )
    try:
        # through JSON in strict mode: "3" is not 3, and true is not 1
        return BenchResults.model_validate_json(text, strict=True)
    except ValidationError as exc:
        where, what = first_problem(exc, skip=_TAGS)
        if where.endswith("available") and exc.errors()[0]["type"] == "literal_error":
            what = "must be true or false"  # not "should be false": the row's kind is what it decides
        raise BenchResultsError(
            f"{path} is not a valid {SCHEMA} results file ({where}: {what}); run `zoo bench` again"
        ) from None
