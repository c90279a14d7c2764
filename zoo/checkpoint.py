"""A run directory: `weights.safetensors` + `run.json`. Loading rebuilds the model from the JSON and
reads tensors with safetensors, so nothing is ever unpickled."""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.errors import CheckpointError, ZooError
from zoo.fileio import umask, write_json_atomic

WEIGHTS = "weights.safetensors"
RECORD = "run.json"
FORMAT = "zoo.run/1"


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _state_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_run(run_dir: str | os.PathLike, model: nn.Module, record: dict[str, Any]) -> Path:
    """Write the run into a hidden temporary folder and rename it into place: all or nothing."""
    run_dir = Path(run_dir)
    if run_dir.exists():
        raise CheckpointError(f"run directory {run_dir} already exists; choose another output folder")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        save_file(_state_for_saving(model), tmp / WEIGHTS, metadata={"format": FORMAT})
        record = {"format": FORMAT, **record, "weights_sha256": sha256_file(tmp / WEIGHTS)}
        write_json_atomic(tmp / RECORD, record)
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700 folders
        os.replace(tmp, run_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run_dir


def update_record(run_dir: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Add fields to run.json in place (atomically), e.g. test metrics computed after training."""
    record = read_record(run_dir)
    record.update(fields)
    write_json_atomic(Path(run_dir) / RECORD, record)
    return record


def read_record(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / RECORD
    if not Path(run_dir).is_dir():
        raise CheckpointError(
            f"{run_dir} is not a run directory; pass a folder that holds {RECORD} and {WEIGHTS}"
        )
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; {run_dir} is not a complete run directory")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the run directory is corrupt") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a zoo run record (expected format {FORMAT})")
    return record


def load_run(run_dir: str | os.PathLike, *, verify: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model named in run.json and load its weights; refuse mismatched or corrupt weights."""
    from zoo.registry import create_model

    run_dir = Path(run_dir)
    record = read_record(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing; the run's weights were deleted or never written")
    if verify and record.get("weights_sha256") and sha256_file(weights) != record["weights_sha256"]:
        raise CheckpointError(
            f"{weights} does not match the sha256 recorded in {RECORD}; the file was changed"
        )
    try:
        model = create_model(record["model"], **record["hyperparameters"])
    except ZooError as exc:
        raise CheckpointError(f"cannot rebuild the model of {run_dir}: {exc}") from None
    except KeyError as exc:
        raise CheckpointError(f"{run_dir / RECORD} lacks {exc}; the run directory is corrupt") from None
    try:
        state = load_file(weights)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights} cannot be read ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{weights} does not fit model {record['model']}: {first}") from None
    model.eval()
    return model, record
