"""Where a dataset's files are: the lookup order, and whether a folder holds all of them."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from zoo.core.errors import DataError
from zoo.core.paths import data_cache_dir
from zoo.data.catalog import CIFAR_ARCHIVE, CIFAR_FOLDER, CIFAR_TEST, CIFAR_TRAIN, DatasetSpec, FileSpec
from zoo.data.lookup import get_dataset_spec

DATA_DIR_ENV = "ZOO_DATA_DIR"


def idx_file(folder: Path, spec: FileSpec) -> Path | None:
    """The file to read for `spec`: raw if present (no decompression to pay), else the .gz."""
    for path in (folder / spec.name, folder / (spec.name + ".gz")):
        if path.is_file():
            return path
    return None


def _inspect(spec: DatasetSpec, folder: Path) -> tuple[Path | None, Path, list[str]]:
    """(holder, where, missing): the folder holding every file, or else the folder holding some and the
    names it lacks (missing is empty when the folder holds none of the files)."""
    if spec.format == "idx":
        missing = [f"{f.name}[.gz]" for f in spec.files if idx_file(folder, f) is None]
        if not missing:
            return folder, folder, []
        return None, folder, missing if len(missing) < len(spec.files) else []
    if (folder / CIFAR_ARCHIVE).is_file():
        return folder, folder, []
    needed = (*CIFAR_TRAIN, CIFAR_TEST)
    best: tuple[Path, list[str]] = (folder, [])
    for candidate in (folder, folder / CIFAR_FOLDER):
        missing = [n for n in needed if not (candidate / n).is_file()]
        if not missing:
            return candidate, candidate, []
        if len(missing) < len(needed) and not best[1]:
            best = (candidate, missing)
    return None, best[0], best[1]


@dataclass
class Location:
    folder: Path | None  # holds every file; None when not found
    searched: list[Path] = field(default_factory=list)
    partial: list[tuple[Path, list[str]]] = field(default_factory=list)  # (folder, names it lacks)
    partial_given: bool = False  # the partial folder is one the user named, so the search stopped there


def locate(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Location:
    """Search, in order: data_dir (else $ZOO_DATA_DIR) and its <dataset>/ subfolder, the artifacts cache,
    then system folders (Debian packages)."""
    given_root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    given: list[Path] = []
    if given_root is not None:
        root = Path(given_root).expanduser()
        if data_dir is not None and not root.is_dir():
            raise DataError(f"data dir {root} does not exist or is not a folder; check --data-dir")
        given = [root, root / spec.info.name]
    location = Location(folder=None)
    for folder in (*given, data_cache_dir(spec.info.name), *spec.system_dirs):
        location.searched.append(folder)
        holder, where, missing = _inspect(spec, folder)
        if holder is not None:
            location.folder = holder
            return location
        if missing:
            location.partial.append((where, missing))
            # a folder the user named that holds some of the files is meant to be used, not skipped
            if folder in given:
                location.partial_given = True
                return location
    return location


def find_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding `name`'s files; DataError naming every place searched when there is none."""
    spec = get_dataset_spec(name)
    location = locate(spec, data_dir)
    if location.folder is not None:
        return location.folder
    if location.partial_given:
        where, missing = location.partial[-1]
        raise DataError(
            f"{spec.info.name}: {where} holds only some of the files; missing: {', '.join(missing)}. "
            f"{spec.install_hint}"
        )
    notes = "".join(f" ({where} lacks {', '.join(missing)})" for where, missing in location.partial)
    places = ", ".join(str(p) for p in location.searched)
    raise DataError(f"{spec.info.name} not found; looked in: {places}{notes}. {spec.install_hint}")
