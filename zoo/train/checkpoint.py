"""A run directory: `weights.safetensors` + `run.json`. Loading rebuilds the model from the JSON and
reads tensors with safetensors, so nothing is ever unpickled.

`RunRecord` is the one home of run.json: the writer builds one, the reader validates every key and type
through it, and nothing else reads the file by string keys. A bad record is one line naming the file and
the key."""

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

import torch
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from typing_extensions import TypedDict

from zoo.core.errors import CheckpointError, ZooError
from zoo.core.fileio import read_json_object, sha256_file, umask, write_json_atomic
from zoo.core.names import temporary_sibling
from zoo.core.validation import problem_line
from zoo.models.registry import create_model_for, get_spec

WEIGHTS = "weights.safetensors"
RECORD = "run.json"
FORMAT = "zoo.run/1"

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ImageShape = Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=3, max_length=3)]
_OPEN = ConfigDict(extra="allow")  # nested records keep keys this version does not read


class SplitMetrics(TypedDict):
    __pydantic_config__ = _OPEN
    accuracy: FiniteFloat
    log_loss: float
    n: Annotated[int, Field(ge=0)]


class Normalization(TypedDict):
    mean: list[FiniteFloat]
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]]


class DataFingerprint(TypedDict):
    __pydantic_config__ = _OPEN
    sha256: str
    val_fraction: float
    split_seed: int
    n_train: int
    n_val: int
    n_test: int
    # a folder dataset's resize mode (zoo.core.images.fit), which its export tells predict; stretch where
    # missing
    resize: NotRequired[Literal["stretch", "pad", "crop"]]


class TrainConfigRecord(TypedDict):
    """The keys of TrainConfig that readers of a run use; the others are kept as they are."""

    __pydantic_config__ = _OPEN
    val_fraction: float
    seed: int
    epochs: int
    test_time_flip: bool


class BudgetRecord(TypedDict):
    """The epochs a run trained and why (zoo/train/budget.py's EpochBudget); absent from runs made before
    it."""

    __pydantic_config__ = _OPEN
    epochs: Annotated[int, Field(ge=1)]
    source: str
    train_images: Annotated[int, Field(ge=0)]
    batch_size: Annotated[int, Field(ge=1)]
    steps_per_epoch: Annotated[int, Field(ge=1)]


@dataclass
class RunRecord:
    """Everything a run directory records about how its weights came to be."""

    model: str
    family: str
    dataset: str
    hyperparameters: dict[str, Any]
    train_config: TrainConfigRecord
    num_params: Annotated[int, Field(ge=0)]
    input_shape: ImageShape
    class_names: Annotated[list[str], Field(min_length=1)]
    normalization: Normalization
    history: list[dict[str, Any]]
    best_epoch: int | None
    stopped_early: bool
    train_seconds: float
    metrics: dict[str, SplitMetrics]
    data: DataFingerprint
    device: str
    precision: str
    versions: dict[str, str]
    created_at: str
    weights_sha256: Sha256
    study: str | None = None
    trial: int | None = None
    retrained: bool = False
    ablation: str | None = None
    weights_deleted: str | None = None
    budget: BudgetRecord | None = None
    # keys written by a newer zoo: kept on rewrite, never read
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike = RECORD) -> "RunRecord":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"{source} is not a zoo run record (expected format {FORMAT})")
        known = {f.name for f in dataclasses.fields(cls)} - {"extras"}
        fields_ = {k: v for k, v in data.items() if k in known}
        extras = {k: v for k, v in data.items() if k not in known and k != "format"}
        try:
            # through JSON, so strict mode takes lists for lists and rejects "3" for 3 or true for 1
            record = _ADAPTER.validate_json(json.dumps(fields_, allow_nan=True), strict=True)
        except ValidationError as exc:
            raise CheckpointError(f"{source} is not a valid run record: {problem_line(exc)}") from None
        record.extras = extras
        problem = record._inconsistency()
        if problem:
            raise CheckpointError(f"{source} is not a valid run record: {problem}")
        return record

    def _inconsistency(self) -> str | None:
        channels = self.input_shape[0]
        for key in ("mean", "std"):
            if len(self.normalization[key]) != channels:
                return f"normalization.{key} must hold {channels} numbers, one per input channel"
        return None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extras = data.pop("extras")
        return {"format": FORMAT, **data, **extras}

    @property
    def test_metrics(self) -> SplitMetrics | None:
        return self.metrics.get("test")

    @property
    def val_metrics(self) -> SplitMetrics | None:
        return self.metrics.get("val")


_ADAPTER = TypeAdapter(RunRecord)


def cpu_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors as safetensors stores them: detached, on the CPU, contiguous."""
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def save_run(run_dir: str | os.PathLike, model: nn.Module, fields: dict[str, Any]) -> RunRecord:
    """Write the run into a hidden temporary folder and rename it into place: all or nothing.

    `fields` are the RunRecord's fields but `weights_sha256`, which is computed here from the file."""
    run_dir = Path(run_dir)
    if run_dir.exists():
        raise CheckpointError(f"run directory {run_dir} already exists; choose another output folder")
    tmp = temporary_sibling(run_dir)
    try:
        save_file(cpu_tensors(model.state_dict()), tmp / WEIGHTS, metadata={"format": FORMAT})
        data = {"format": FORMAT, **fields, "weights_sha256": sha256_file(tmp / WEIGHTS)}
        record = RunRecord.from_dict(data, "the new run record")
        write_json_atomic(tmp / RECORD, record.to_dict())
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp-like folders are 0700
        os.rename(tmp, run_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


def update_record(run_dir: str | os.PathLike, **fields: Any) -> RunRecord:
    """Change fields of run.json in place (atomically), e.g. test metrics computed after training."""
    record = dataclasses.replace(read_record(run_dir), **fields)
    record = RunRecord.from_dict(record.to_dict(), Path(run_dir) / RECORD)
    write_json_atomic(Path(run_dir) / RECORD, record.to_dict())
    return record


def read_record(run_dir: str | os.PathLike) -> RunRecord:
    path = Path(run_dir) / RECORD
    if not Path(run_dir).is_dir():
        raise CheckpointError(
            f"{run_dir} is not a run directory; pass a folder that holds {RECORD} and {WEIGHTS}"
        )
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; {run_dir} is not a complete run directory")
    _, data = read_json_object(path, CheckpointError, fix="the run directory is corrupt")
    return RunRecord.from_dict(data, path)


# Architecture keys added after runs were saved, each with the value that rebuilds what those runs trained:
# a run.json without block_order was trained with zoo's fast order, whatever its variant's default is now.
KEYS_ADDED_LATER: dict[str, Any] = {"block_order": "conv-pool-bn-act"}


def rebuild_hyperparameters(record: RunRecord) -> dict[str, Any]:
    """The hyperparameters that rebuild the model `record` trained, for records of any zoo version."""
    known = get_spec(record.model).hparams
    missing = {k: v for k, v in KEYS_ADDED_LATER.items() if k in known and k not in record.hyperparameters}
    return {**missing, **record.hyperparameters}


def load_run(run_dir: str | os.PathLike, *, verify: bool = True) -> tuple[nn.Module, RunRecord]:
    """Rebuild the model named in run.json and load its weights; refuse mismatched or corrupt weights."""
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing; the run's weights were deleted or never written")
    if verify and sha256_file(weights) != record.weights_sha256:
        raise CheckpointError(
            f"{weights} does not match the sha256 recorded in {RECORD}; the file was changed"
        )
    try:
        spec = get_spec(record.model)
        if spec.dataset is not None and record.dataset != spec.dataset:
            raise CheckpointError(
                f"{RECORD} names dataset {record.dataset!r}; {spec.name} is bound to {spec.dataset}"
            )
        # The shape and classes the record names, which are its dataset's: a run of a dataset-agnostic
        # variant is rebuilt even where its dataset is not (another machine, a removed folder dataset).
        model = create_model_for(
            record.model, record.input_shape, len(record.class_names), **rebuild_hyperparameters(record)
        )
    except ZooError as exc:
        raise CheckpointError(f"cannot rebuild the model of {run_dir}: {exc}") from None
    try:
        state = load_file(weights)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights} cannot be read ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{weights} does not fit model {record.model}: {first}") from None
    model.eval()
    return model, record
