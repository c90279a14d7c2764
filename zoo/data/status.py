"""What is on disk for a dataset: where it was found, which files are there, whether they are official."""

import os
from dataclasses import dataclass
from pathlib import Path

from zoo.data.catalog import CIFAR_ARCHIVE, DatasetInfo, DatasetSpec, FileSpec
from zoo.data.checksums import checksum_status
from zoo.data.cifar import cifar_folder
from zoo.data.locate import idx_file, locate
from zoo.data.lookup import get_dataset_spec


@dataclass(frozen=True)
class FileStatus:
    name: str
    path: Path | None
    size: int | None
    checksum: str  # "ok", "mismatch", "unknown" or "missing"


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    info: DatasetInfo
    folder: Path | None  # the folder the dataset loads from; None when not found
    searched: list[Path]
    files: list[FileStatus]


def _status(path: Path | None, spec: FileSpec) -> FileStatus:
    if path is None or not path.is_file():
        return FileStatus(spec.md5_form, None, None, "missing")
    return FileStatus(path.name, path, path.stat().st_size, checksum_status(path, spec))


def _files(spec: DatasetSpec, folder: Path | None) -> list[FileStatus]:
    if folder is None:
        return [_status(None, f) for f in spec.downloads]
    if spec.format == "idx":
        return [_status(idx_file(folder, f), f) for f in spec.files]
    loose = cifar_folder(folder)
    if loose is None and (folder / CIFAR_ARCHIVE).is_file():
        return [_status(folder / CIFAR_ARCHIVE, f) for f in spec.downloads]
    return [_status((loose or folder) / f.name, f) for f in spec.files]


def dataset_status(name: str, data_dir: str | os.PathLike | None = None) -> DatasetStatus:
    """Checksums every file it finds (reads each file once; about a second for Fashion-MNIST)."""
    spec = get_dataset_spec(name)
    location = locate(spec, data_dir)
    # when only some files were found, show those and which are missing
    shown = location.folder or (location.partial[0][0] if location.partial else None)
    return DatasetStatus(
        name=spec.info.name,
        info=spec.info,
        folder=location.folder,
        searched=location.searched,
        files=_files(spec, shown),
    )
