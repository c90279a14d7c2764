"""CIFAR-10 "python version" batches: read them from a folder or the official tar.gz, and validate them.

The batches are pickles, and unpickling can run any code the file names, so the unpickler here resolves
only the few numpy globals needed to rebuild arrays and refuses everything else.
"""

import importlib
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from zoo.core.errors import DataError
from zoo.data.catalog import CIFAR_ARCHIVE, CIFAR_FOLDER, CIFAR_META, CIFAR_TEST, CIFAR_TRAIN

_PIXELS = 3 * 32 * 32

# Official files were written by numpy 1.x (numpy.core); numpy 2 pickles name numpy._core.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


def _resolve_numpy(module: str, name: str) -> Any:
    # Prefer the spelling this numpy has, so numpy 2 does not warn about the numpy.core alias.
    candidates = [
        module.replace("numpy.core.", "numpy._core."),
        module.replace("numpy._core.", "numpy.core."),
    ]
    for candidate in dict.fromkeys(candidates):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"this numpy has no {module}.{name}")


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], where: str) -> None:
        super().__init__(file, encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DataError(
                f"{self.where}: refused to unpickle {module}.{name}; a CIFAR batch holds only numpy arrays "
                "and lists, so this file is not an official one (and may be unsafe)"
            )
        return _resolve_numpy(module, name)


def unpickle(file: IO[bytes], where: str) -> Any:
    try:
        return _ArrayUnpickler(file, where).load()
    except DataError:
        raise
    except Exception as e:  # a corrupt pickle can fail in many ways inside pickle or numpy; all mean the same
        raise DataError(f"{where}: not a readable CIFAR pickle ({type(e).__name__}: {e})") from None


def _get(batch: dict, key: str) -> Any:
    # Official files have bytes keys; accept str keys too, as written by a Python 3 re-pickle.
    return batch[key.encode()] if key.encode() in batch else batch.get(key)


def parse_batch(batch: Any, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels from one unpickled batch dict."""
    if not isinstance(batch, dict):
        raise DataError(f"{where}: expected a dict with b'data' and b'labels', found {type(batch).__name__}")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if data is None or labels is None:
        missing = [k for k, v in (("data", data), ("labels", labels)) if v is None]
        raise DataError(f"{where}: missing key(s) {', '.join(missing)}; keys are {sorted(map(str, batch))}")
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != _PIXELS
    ):
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{where}: data should be a uint8 array of shape (N, {_PIXELS}), found {found}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: labels are not a list of integers") from None
    if y.ndim != 1 or len(y) != len(data):
        raise DataError(f"{where}: {len(data)} images but labels of shape {y.shape}")
    if len(y) == 0:
        raise DataError(f"{where}: the batch holds no images")
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        raise DataError(f"{where}: label {y[bad[0]]} at index {bad[0]} is out of range 0..{num_classes - 1}")
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32)), y


def _parse_meta(meta: Any, where: str, class_names: tuple[str, ...]) -> None:
    names = _get(meta, "label_names") if isinstance(meta, dict) else None
    if names is None:
        raise DataError(f"{where}: expected a dict with b'label_names'")
    try:
        decoded = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except (TypeError, UnicodeDecodeError):
        raise DataError(f"{where}: label_names is not a list of names") from None
    if decoded != class_names:
        raise DataError(f"{where}: label_names are {list(decoded)}, expected {list(class_names)}")


def cifar_folder(folder: Path) -> Path | None:
    """The folder holding the loose batch files: `folder` itself or its cifar-10-batches-py/."""
    for candidate in (folder, folder / CIFAR_FOLDER):
        if all((candidate / n).is_file() for n in (*CIFAR_TRAIN, CIFAR_TEST)):
            return candidate
    return None


def _load_loose(folder: Path) -> dict[str, Any]:
    loaded = {}
    for name in (*CIFAR_TRAIN, CIFAR_TEST, CIFAR_META):
        path = folder / name
        if name == CIFAR_META and not path.is_file():
            continue
        try:
            with open(path, "rb") as f:
                loaded[name] = unpickle(f, str(path))
        except OSError as e:
            raise DataError(f"{path}: cannot read file ({e})") from None
    return loaded


MAX_MEMBER_BYTES = 64 << 20  # an official batch is 31,035,704 bytes


def _load_archive(archive: Path) -> dict[str, Any]:
    wanted = {*CIFAR_TRAIN, CIFAR_TEST, CIFAR_META}
    raw: dict[str, tuple[str, bytes]] = {}
    try:
        # one sequential pass: seeking back in a .tar.gz means decompressing it again
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parent, _, base = member.name.rpartition("/")
                if member.isfile() and base in wanted and parent in ("", CIFAR_FOLDER):
                    if member.size > MAX_MEMBER_BYTES:  # read whole, it would cost that much memory
                        raise DataError(
                            f"{archive}: {member.name} is {member.size:,} bytes, larger than any official "
                            "CIFAR-10 batch (31 MB); it is not the official archive, download it again"
                        )
                    # read first, so a damaged archive is reported as such, not as a bad pickle
                    raw[base] = (member.name, tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{archive}: corrupt or unreadable tar.gz ({e})") from None
    missing = sorted(wanted - {CIFAR_META} - set(raw))
    if missing:
        raise DataError(f"{archive}: the archive lacks {', '.join(missing)}")
    return {base: unpickle(io.BytesIO(data), f"{archive}:{name}") for base, (name, data) in raw.items()}


def read_cifar(folder: Path, class_names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """(train_x, train_y, test_x, test_y) from loose batches in `folder` or from its official tar.gz."""
    loose = cifar_folder(folder)
    if loose is not None:
        loaded, where = _load_loose(loose), str(loose)
    else:
        archive = folder / CIFAR_ARCHIVE
        if not archive.is_file():
            raise DataError(f"{folder}: holds neither the CIFAR-10 batch files nor {CIFAR_ARCHIVE}")
        loaded, where = _load_archive(archive), f"{archive}:{CIFAR_FOLDER}"
    if CIFAR_META in loaded:
        _parse_meta(loaded[CIFAR_META], f"{where}/{CIFAR_META}", class_names)
    num_classes = len(class_names)
    train = [parse_batch(loaded[n], f"{where}/{n}", num_classes) for n in CIFAR_TRAIN]
    sizes = {n: len(y) for n, (_, y) in zip(CIFAR_TRAIN, train, strict=True)}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{n}: {s}" for n, s in sizes.items())
        raise DataError(f"{where}: the training batches differ in size ({listed}); they must all match")
    test_x, test_y = parse_batch(loaded[CIFAR_TEST], f"{where}/{CIFAR_TEST}", num_classes)
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    return train_x, train_y, test_x, test_y
