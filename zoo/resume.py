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
"""

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from zoo import paths
from zoo.checkpoint import cpu_tensors
from zoo.errors import CheckpointError, UsageError
from zoo.fileio import atomic_path, write_json_atomic
from zoo.names import inside

REQUEST = "request.json"
STATE = "state.safetensors"
FORMAT = "zoo.resume/1"


def unfinished_root() -> Path:
    return paths.runs_dir() / ".unfinished"


def unfinished_dir(model: str, run_name: str) -> Path:
    return inside(unfinished_root(), model, run_name, what="run name")


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "model": self.model,
            "name": self.name,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "updated": self.updated.isoformat(timespec="seconds"),
        }


def write_request(folder: Path, request: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / REQUEST, {"format": FORMAT, **request})


def read_request(folder: Path) -> dict[str, Any]:
    path = folder / REQUEST
    try:
        request = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder} is not an unfinished run (no {REQUEST}); see `zoo runs`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); remove it with `zoo runs clean`") from None
    if not isinstance(request, dict) or request.get("format") != FORMAT or "model" not in request:
        raise CheckpointError(f"{path} is not a zoo resume request (format {FORMAT})")
    return request


def _read_metadata(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """(the state file's safetensors metadata, its decoded JSON state), without loading the tensors."""
    with safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    return metadata, json.loads(metadata["state"])


def _epochs_done(folder: Path) -> int:
    try:
        return int(_read_metadata(folder / STATE)[1]["epoch"])
    except (OSError, SafetensorError, KeyError, ValueError, TypeError):
        return 0


def list_unfinished(model: str | None = None) -> list[Unfinished]:
    """Every unfinished run (of `model`), oldest first."""
    root = unfinished_root()
    found = []
    for request_path in sorted(root.glob(f"{model or '*'}/*/{REQUEST}")) if root.is_dir() else []:
        folder = request_path.parent
        try:
            request = read_request(folder)
        except CheckpointError:
            continue
        stamp = max(p.stat().st_mtime for p in folder.iterdir())
        found.append(
            Unfinished(
                folder,
                request["model"],
                folder.name,
                _epochs_done(folder),
                int(request.get("epochs", 0)),
                datetime.fromtimestamp(stamp, UTC),
                request,
            )
        )
    return sorted(found, key=lambda u: u.updated)


def newest_unfinished(model: str) -> Unfinished:
    runs = list_unfinished(model)
    if not runs:
        raise UsageError(
            f"no unfinished run of {model} under {unfinished_root()}; start one with `zoo train {model}`"
        )
    return runs[-1]


def remove_unfinished(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # tidy empty <model>/ and .unfinished/
        try:
            parent.rmdir()
        except OSError:
            break


# ---------------------------------------------------------------------------------- training state


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
    try:
        with atomic_path(path) as tmp:
            save_file(tensors, tmp, metadata={"format": FORMAT, "state": json.dumps(meta)})
            with open(tmp, "rb") as f:  # on disk before the rename: a crash leaves the old state or this one
                os.fsync(f.fileno())
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(
            f"cannot save the training state to {path} ({exc}); training stopped, the previous epoch's state "
            "is kept: free some space, then continue with the command `zoo runs` shows"
        ) from None
    return time.perf_counter() - started


def load_state(path: Path) -> TrainingState | None:
    """The saved state, or None when the run was interrupted before its first epoch ended."""
    if not path.is_file():
        return None
    try:
        metadata, meta = _read_metadata(path)
        tensors = load_file(path)
    except (OSError, SafetensorError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{path} cannot be read ({exc}); remove the unfinished run with `zoo runs clean`"
        ) from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a zoo resume state (format {FORMAT})")

    def prefixed(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    optimizer_state: dict[int, dict[str, Any]] = {}
    for key, value in prefixed("optim.").items():
        index, name = key.split(".", 1)
        optimizer_state.setdefault(int(index), {})[name] = value
    for index, values in meta["optimizer_scalars"].items():
        optimizer_state.setdefault(int(index), {}).update(values)
    best = prefixed("best.")
    return TrainingState(
        epoch=meta["epoch"],
        history=meta["history"],
        best_loss=float("inf") if meta["best_loss"] is None else meta["best_loss"],
        best_epoch=meta["best_epoch"],
        stale=meta["stale"],
        stopped_early=meta["stopped_early"],
        seconds=meta["seconds"],
        model=prefixed("model."),
        best_model=best or None,
        optimizer={"state": optimizer_state, "param_groups": meta["optimizer_groups"]},
        scheduler=meta["scheduler"],
        scaler=meta["scaler"],
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
