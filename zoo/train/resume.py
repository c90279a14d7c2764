"""Unfinished runs: what `fit` needs to continue a training exactly where it stopped.

An unfinished run is a folder `artifacts/runs/.unfinished/<model>/<run name>/` (hidden, so no discovery
takes it for a run) holding:

    request.json        how `train_run` was called: model, overrides, data folder, destination
    state.safetensors   model and best-so-far weights, optimizer tensors, RNG states of torch and the
                        batch generator; its metadata holds the rest as JSON (epoch, history,
                        early-stopping state, optimizer groups, scheduler and grad-scaler state)

`fit` rewrites the state atomically at the end of every epoch; `train_run` removes the folder once the
run directory is saved. A killed or interrupted run keeps it, `zoo train NAME --resume` continues it and
gives the same weights as an uninterrupted run with the same seed on the CPU; nothing is ever unpickled.
Unfinished runs are listed by `zoo runs` and removed only by `zoo runs clean`.

Whoever trains an unfinished run holds its lock, an exclusive `flock` on the file `lock` inside its folder,
from before the data is loaded until the run is saved (`run_lock`): a second `zoo train --resume` of the
run, or a second worker retraining a study's winner, is refused at once with one line instead of training
the same epochs to the end and failing at the save. The operating system releases the lock of a process
that dies, so a killed run never stays locked.

Each file has one home that writes and validates it: `ResumeRequest` (request.json) and `StateMeta` (the
state's JSON metadata). Nothing reads them by string keys; a bad file is one line naming the file and the
key, and `zoo runs` lists such a run as damaged instead of failing.
"""

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Required

import torch
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from typing_extensions import TypedDict

from zoo.core import paths
from zoo.core.errors import CheckpointError, UsageError, ZooError
from zoo.core.fileio import atomic_path, read_json_object, write_json_atomic
from zoo.core.names import inside, is_valid_name, run_dir_from
from zoo.core.validation import problem_line
from zoo.models.registry import get_spec, resolve_dataset
from zoo.train.checkpoint import cpu_tensors
from zoo.train.config import resolve

REQUEST = "request.json"
STATE = "state.safetensors"
LOCK = "lock"
FORMAT = "zoo.resume/1"

_OPEN = ConfigDict(extra="allow")  # torch's own state dicts: the keys zoo relies on are typed, others kept
_CLOSED = ConfigDict(extra="forbid")  # nothing else may ride along
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]


def unfinished_root() -> Path:
    return paths.runs_dir() / ".unfinished"


def unfinished_dir(model: str, run_name: str) -> Path:
    return inside(unfinished_root(), model, run_name, what="run name")


def _with_fix(exc: ZooError, folder: Path) -> ZooError:
    """A damaged unfinished run cannot continue; the fix is to remove it."""
    return type(exc)(f"{exc}; `zoo runs clean {folder.name}` removes that unfinished run")


def _read_json(path: Path) -> dict[str, Any]:
    missing = f"{path.parent} is not an unfinished run; see `zoo runs`"
    return read_json_object(path, CheckpointError, fix="remove it with `zoo runs clean`", missing=missing)[1]


# ---------------------------------------------------------------------------------- request.json


class ExtraRecord(TypedDict, total=False):
    """What tune adds to a run's record. It is spread into run.json, so no other key (a `model`, a
    `metrics`) may ride along from a tampered request."""

    __pydantic_config__ = _CLOSED
    study: str | None
    trial: int | None
    retrained: bool
    ablation: str | None


@dataclass
class ResumeRequest:
    """request.json: how `train_run` was called, so that `resume_run` can call it again."""

    model: str
    overrides: dict[str, Any]  # checked by resolve(), as `--set` values are
    data_dir: str | None
    run_dir: Path  # only a run folder under the runs root (run_dir_from)
    evaluate_test: bool
    extra_record: ExtraRecord
    epochs: Annotated[int, Field(ge=1)]
    # the run's dataset, as train_run resolved it; None in requests written before datasets were named,
    # which were all of the model's own dataset
    dataset: str | None = None
    # sha256 of the images and labels the run started on (the data fingerprint's): a resume on other data
    # under the same name is refused; None in requests written before it was recorded
    data_sha256: str | None = None

    @classmethod
    def new(cls, **fields: Any) -> "ResumeRequest":
        """A request zoo is about to write, checked exactly as it will be when read back."""
        return cls.from_dict({"format": FORMAT, **fields}, "the new resume request")

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike) -> "ResumeRequest":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"{source} is not a zoo resume request (expected format {FORMAT})")
        fields_ = {k: str(v) if isinstance(v, Path) else v for k, v in data.items() if k != "format"}
        try:
            # through JSON, so strict mode takes lists for lists and rejects "3" for 3 or true for 1
            request = _REQUEST.validate_json(json.dumps(fields_), strict=True)
        except ValidationError as exc:
            raise CheckpointError(f"{source} is not a valid resume request: {problem_line(exc)}") from None
        request.run_dir = run_dir_from(fields_["run_dir"], f"{source} key run_dir")
        problem = request._problem()
        if problem:
            raise CheckpointError(f"{source} is not a valid resume request: {problem}")
        return request

    def _problem(self) -> str | None:
        """The model must exist and the overrides pass the checks a typed `--set` passes."""
        if not is_valid_name(self.model):
            return f"model: {self.model!r} is not a valid name"
        try:
            spec = get_spec(self.model)
        except ZooError as exc:
            return f"model: {exc}"
        if self.dataset is not None and not is_valid_name(self.dataset):
            return f"dataset: {self.dataset!r} is not a valid name"
        try:
            resolve_dataset(spec, self.dataset)
        except ZooError as exc:
            return f"dataset: {exc}"
        try:
            _, config = resolve(spec, self.overrides, self.dataset)
        except ZooError as exc:
            return f"overrides: {exc}"
        if config.epochs != self.epochs:
            return f"epochs: {self.epochs}, but the overrides train {config.epochs}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **dataclasses.asdict(self), "run_dir": str(self.run_dir)}

    @classmethod
    def read(cls, folder: Path) -> "ResumeRequest":
        data = _read_json(folder / REQUEST)
        try:
            return cls.from_dict(data, folder / REQUEST)
        except ZooError as exc:
            raise _with_fix(exc, folder) from None

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / REQUEST, self.to_dict())


_REQUEST = TypeAdapter(ResumeRequest)


def read_request(folder: Path) -> dict[str, Any]:
    """The validated request as a dict, for callers that index it; ResumeRequest.read gives the class."""
    return ResumeRequest.read(folder).to_dict()


# ---------------------------------------------------------------------------------- listing


@dataclass
class Unfinished:
    """An unfinished run as `zoo runs` lists it."""

    folder: Path
    model: str
    name: str
    epoch: int  # epochs done (0: interrupted before the first ended)
    epochs: int
    updated: datetime
    request: dict[str, Any]
    dataset: str | None = None  # what the run trains on, from its request
    # why it cannot continue (a bad request.json or state): one line naming the file and the key; None
    # when it can. A damaged run shows its folder's model name and 0/0 epochs; `zoo runs clean` removes it.
    damaged: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "model": self.model,
            "name": self.name,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "dataset": self.dataset,
            "updated": self.updated.isoformat(timespec="seconds"),
            "damaged": self.damaged,
        }


def _updated(folder: Path) -> datetime:
    """The newest change in `folder`; files vanishing meanwhile (a run finishing) are skipped."""
    stamps = []
    try:
        entries = [folder, *folder.iterdir()]
    except OSError:
        entries = [folder]
    for entry in entries:
        try:
            stamps.append(entry.lstat().st_mtime)
        except OSError:
            continue
    return datetime.fromtimestamp(max(stamps, default=0), UTC)


def _describe(folder: Path) -> Unfinished:
    updated = _updated(folder)
    try:
        request = ResumeRequest.read(folder)
        epoch, planned = _progress(folder / STATE)
        dataset = resolve_dataset(get_spec(request.model), request.dataset)  # as ResumeRequest checked it
    except ZooError as exc:
        return Unfinished(folder, folder.parent.name, folder.name, 0, 0, updated, {}, damaged=str(exc))
    # the epochs the run plans: its history says them once an epoch ended (a budget sized to the data
    # differs from the recipe's count the request holds)
    epochs = planned or request.epochs
    return Unfinished(folder, request.model, folder.name, epoch, epochs, updated, request.to_dict(), dataset)


def list_unfinished(model: str | None = None) -> list[Unfinished]:
    """Every unfinished run (of `model`), oldest first; a damaged one is listed with its reason."""
    root = unfinished_root()
    requests = sorted(root.glob(f"{model or '*'}/*/{REQUEST}")) if root.is_dir() else []
    return sorted((_describe(path.parent) for path in requests), key=lambda u: u.updated)


def newest_unfinished(model: str) -> Unfinished:
    runs = list_unfinished(model)
    usable = [r for r in runs if r.damaged is None]
    if not usable:
        damaged = f" that can continue ({len(runs)} damaged: see `zoo runs`)" if runs else ""
        raise UsageError(
            f"no unfinished run of {model}{damaged} under {unfinished_root()}; "
            f"start one with `zoo train {model}`"
        )
    return usable[-1]


def remove_unfinished(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    root = Path(os.path.abspath(unfinished_root()))
    for parent in (folder.parent, folder.parent.parent):  # tidy empty <model>/ and .unfinished/
        if not Path(os.path.abspath(parent)).is_relative_to(root):  # a --resume-from folder elsewhere
            break
        try:
            parent.rmdir()
        except OSError:
            break


def clean_unfinished(folder: Path) -> None:
    """`zoo runs clean`: remove an unfinished run that no process is training, under its lock (RunInUse,
    and nothing removed, when one is): what is inside goes, then the lock's release removes the folder."""
    with run_lock(folder):
        for entry in folder.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def discard_unfinished(folder: Path) -> None:
    """Forget what an unfinished run holds (its request and state) but keep its folder and lock: for the
    lock's holder, about to train it anew (removing the folder would drop the lock file it holds)."""
    for name in (REQUEST, STATE):
        (folder / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- the run's lock


class RunInUse(ZooError):
    """Another process is training or resuming this unfinished run."""


_held: dict[str, int] = {}  # the locks this process holds (folder -> depth): run_lock is re-entrant


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the lock of the unfinished run `folder` (created if needed) for the block, or raise RunInUse
    at once, naming the run, when another process holds it. Re-entrant within a process (resume_run holds
    it and calls train_run, which takes it too). A folder left holding nothing but the lock (the run failed
    before its request was written) is removed on the way out."""
    key = os.path.abspath(folder)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = _lock(folder)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            if folder.is_dir() and {p.name for p in folder.iterdir()} <= {LOCK}:
                remove_unfinished(folder)  # nothing was started there: no trace (and no unlock race)
        os.close(fd)  # the lock goes with the descriptor


def _lock(folder: Path) -> int:
    """An open descriptor of `folder`/lock holding its exclusive flock, the holder's pid written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise ZooError(
            f"cannot lock the unfinished run {folder} ({exc.strerror or exc}); its folder must be writable"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ZooError(f"cannot lock the unfinished run {folder} ({exc.strerror or exc})") from None
        raise RunInUse(
            f"run {folder.name} is already being resumed or trained by another process{holder} ({folder}); "
            "wait for that process to end, or stop it, then run the command again"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError):  # who holds it, for the message of whoever is refused
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""


# ---------------------------------------------------------------------------------- training state


class EpochRecord(TypedDict):
    """One entry of the history: the fields of zoo.train.loop.EpochStats, which fit rebuilds with
    `EpochStats(**entry)`, so no other key may appear (a test keeps the two in step)."""

    __pydantic_config__ = _CLOSED
    epoch: Annotated[int, Field(ge=1)]
    epochs: Annotated[int, Field(ge=1)]
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float


class OptimizerGroup(TypedDict, total=False):
    """A torch optimizer's parameter group: the keys zoo's optimizers and schedulers set are typed, because
    torch takes whatever it is given and fails (or trains wrongly) only at the next step."""

    __pydantic_config__ = _OPEN
    params: Required[list[Count]]
    lr: Required[NonNegative]
    initial_lr: NonNegative
    max_lr: NonNegative
    min_lr: NonNegative
    weight_decay: NonNegative
    eps: NonNegative
    momentum: NonNegative
    dampening: NonNegative
    max_momentum: NonNegative
    base_momentum: NonNegative
    betas: Annotated[list[NonNegative], Field(min_length=2, max_length=2)]
    amsgrad: bool
    nesterov: bool
    maximize: bool
    capturable: bool
    differentiable: bool
    decoupled_weight_decay: bool
    foreach: bool | None
    fused: bool | None


class SchedulerState(TypedDict, total=False):
    """A torch learning-rate scheduler's state (load_state_dict copies every key onto the scheduler)."""

    __pydantic_config__ = _OPEN
    last_epoch: int
    _step_count: Count
    total_steps: Annotated[int, Field(ge=1)]
    T_max: Annotated[int, Field(ge=1)]
    eta_min: NonNegative
    base_lrs: list[NonNegative]
    _last_lr: list[Finite]


class ScalerState(TypedDict, total=False):
    """torch.amp.GradScaler's state; empty when the scaler is disabled (every precision but fp16)."""

    __pydantic_config__ = _CLOSED
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    growth_factor: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    backoff_factor: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    growth_interval: Annotated[int, Field(ge=1)]
    _growth_tracker: Count


@dataclass
class StateMeta:
    """The JSON metadata of state.safetensors: everything of the training state but the tensors."""

    epoch: Annotated[int, Field(ge=1)]
    history: list[EpochRecord]
    best_loss: float | None  # None: no validation loss was better than infinity yet
    best_epoch: Count
    stale: Count
    stopped_early: bool
    seconds: NonNegative
    optimizer_groups: Annotated[list[OptimizerGroup], Field(min_length=1)]
    optimizer_scalars: dict[Annotated[str, Field(pattern=r"^[0-9]+$")], dict[str, Any]]
    scheduler: SchedulerState | None
    scaler: ScalerState

    @classmethod
    def from_json(cls, text: Any, source: str | os.PathLike) -> "StateMeta":
        if not isinstance(text, str):
            raise CheckpointError(f"{source} is not a zoo resume state: its metadata has no key state")
        try:
            meta = _STATE_META.validate_json(text, strict=True)
        except ValidationError as exc:
            raise CheckpointError(f"{source} is not a valid resume state: {problem_line(exc)}") from None
        if [entry["epoch"] for entry in meta.history] != list(range(1, meta.epoch + 1)):
            raise CheckpointError(
                f"{source} is not a valid resume state: history must hold epochs 1 to {meta.epoch}, one each"
            )
        return meta

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


_STATE_META = TypeAdapter(StateMeta)


def _read_metadata(path: Path) -> tuple[dict[str, str], StateMeta]:
    """(the state file's safetensors metadata, its validated state), from the header alone: the tensors'
    names and types are checked here too, so a listing judges a state without loading its tensors."""
    try:
        with safe_open(path, "pt") as f:
            metadata = f.metadata() or {}
            names = f.keys()  # a safe_open handle is no mapping: `in f` does not work
            dtypes = {key: f.get_slice(key).get_dtype() for key in names}
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(
            f"{path} cannot be read ({exc}); remove the unfinished run with `zoo runs clean`"
        ) from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a zoo resume state (format {FORMAT})")
    try:
        meta = StateMeta.from_json(metadata.get("state"), path)
    except ZooError as exc:
        raise _with_fix(exc, path.parent) from None
    problem = _tensor_problem(dtypes)
    if problem:
        raise _with_fix(CheckpointError(f"{path} is not a valid resume state: {problem}"), path.parent)
    return metadata, meta


def _tensor_problem(dtypes: dict[str, str]) -> str | None:
    """Why the tensors named in a state cannot be what load_state splits them into, or None."""
    for key in ("rng.torch", "rng.generator"):  # torch and the generator take byte tensors only
        if dtypes.get(key) != "U8":
            return f"tensor {key} is missing or not bytes"
    if not any(key.startswith("model.") for key in dtypes):
        return "it holds no model tensors"
    for key in dtypes:
        index, _, name = key.removeprefix("optim.").partition(".")
        if key.startswith("optim.") and not (index.isdigit() and name):
            return f"tensor {key!r} names no optimizer slot"
    return None


def _progress(path: Path) -> tuple[int, int | None]:
    """(epochs the state in `path` holds, the epochs its run plans, from its history); (0, None) when
    there is no state yet. A bad state raises CheckpointError."""
    if not path.exists():
        return 0, None
    meta = _read_metadata(path)[1]
    planned = meta.history[-1].get("epochs") if meta.history else None
    return meta.epoch, planned if isinstance(planned, int) and planned > 0 else None


@dataclass
class TrainingState:
    """Everything fit needs to continue after epoch `epoch`."""

    epoch: int
    history: list[dict[str, Any]]
    best_loss: float
    best_epoch: int
    stale: int
    stopped_early: bool
    seconds: float  # training time spent before this process
    model: dict[str, torch.Tensor]
    best_model: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    scaler: dict[str, Any]
    torch_rng: torch.Tensor
    generator_rng: torch.Tensor


def save_state(path: Path, state: TrainingState) -> float:
    """Write the state atomically; returns the seconds it took (the resume overhead per epoch)."""
    started = time.perf_counter()
    tensors = {f"model.{k}": v for k, v in state.model.items()}
    if state.best_model is not None:
        tensors.update({f"best.{k}": v for k, v in state.best_model.items()})
    groups, scalars = state.optimizer["param_groups"], {}
    for index, values in state.optimizer["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    tensors["rng.torch"] = state.torch_rng
    tensors["rng.generator"] = state.generator_rng
    tensors = cpu_tensors(tensors)
    meta = {
        "epoch": state.epoch,
        "history": state.history,
        "best_loss": state.best_loss if state.best_loss != float("inf") else None,
        "best_epoch": state.best_epoch,
        "stale": state.stale,
        "stopped_early": state.stopped_early,
        "seconds": state.seconds,
        "optimizer_groups": groups,
        "optimizer_scalars": scalars,
        "scheduler": state.scheduler,
        "scaler": state.scaler,
    }
    # validated as it will be read: a state that could not be resumed fails now, not at the resume
    text = StateMeta.from_json(json.dumps(meta), "the new training state").to_json()
    try:
        with atomic_path(path) as tmp:
            save_file(tensors, tmp, metadata={"format": FORMAT, "state": text})
            with open(tmp, "rb") as f:  # on disk before the rename: a crash leaves the old state or this one
                os.fsync(f.fileno())
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(
            f"cannot save the training state to {path} ({exc}); training stopped, the previous epoch's state "
            "is kept: free some space, then continue with the command `zoo runs` shows"
        ) from None
    return time.perf_counter() - started


def _optimizer_tensors(tensors: dict[str, torch.Tensor]) -> dict[int, dict[str, Any]]:
    """`optim.<index>.<name>` tensors (names checked by _tensor_problem) -> {index: {name: tensor}}."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, _, name = key.removeprefix("optim.").partition(".")
        state.setdefault(int(index), {})[name] = value
    return state


def load_state(path: Path) -> TrainingState | None:
    """The saved state, or None when the run was interrupted before its first epoch ended."""
    if not path.is_file():
        return None
    _, meta = _read_metadata(path)
    try:
        tensors = load_file(path)
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(
            f"{path} cannot be read ({exc}); remove the unfinished run with `zoo runs clean`"
        ) from None

    def prefixed(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    optimizer_state = _optimizer_tensors({k: v for k, v in tensors.items() if k.startswith("optim.")})
    for index, values in meta.optimizer_scalars.items():
        optimizer_state.setdefault(int(index), {}).update(values)
    return TrainingState(
        epoch=meta.epoch,
        history=[dict(entry) for entry in meta.history],
        best_loss=float("inf") if meta.best_loss is None else meta.best_loss,
        best_epoch=meta.best_epoch,
        stale=meta.stale,
        stopped_early=meta.stopped_early,
        seconds=meta.seconds,
        model=prefixed("model."),
        best_model=prefixed("best.") or None,
        optimizer={"state": optimizer_state, "param_groups": [dict(g) for g in meta.optimizer_groups]},
        scheduler=None if meta.scheduler is None else dict(meta.scheduler),
        scaler=dict(meta.scaler),
        torch_rng=tensors["rng.torch"],
        generator_rng=tensors["rng.generator"],
    )


def restore_model(model: nn.Module, weights: dict[str, torch.Tensor], source: Path) -> None:
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{source} does not fit this model ({first}); it was saved for another one"
        ) from None
