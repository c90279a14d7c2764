"""Where zoo reads and writes: `./artifacts` unless ZOO_ARTIFACTS or `--artifacts` says otherwise."""

import os
from pathlib import Path

_override: Path | None = None


def set_artifacts_dir(path: str | os.PathLike | None) -> None:
    """Point every later call at another artifacts folder (the CLI's `--artifacts`)."""
    global _override
    _override = Path(path) if path is not None else None


def artifacts_dir() -> Path:
    if _override is not None:
        return _override
    return Path(os.environ.get("ZOO_ARTIFACTS", "artifacts"))


def runs_dir() -> Path:
    return artifacts_dir() / "runs"


def data_cache_dir(dataset: str) -> Path:
    return artifacts_dir() / "data" / dataset
