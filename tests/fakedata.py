"""Writers for small datasets in the official file formats (IDX, CIFAR-10 python pickles).

The images are random but learnable: each class brightens its own band of rows, so a model (or a test)
can tell the classes apart.
"""

import dataclasses
import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from zoo.data import catalog

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write(path: Path, data: bytes, gz: bool) -> Path:
    path = Path(path)
    if gz and path.suffix != ".gz":
        path = path.with_name(path.name + ".gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_images(path: Path, array_uint8: np.ndarray, gz: bool = False) -> Path:
    """Write (N, H, W) uint8 images as IDX3; with gz, gzip them and add .gz to the name. Returns the path."""
    return _write(path, idx_bytes(np.asarray(array_uint8, dtype=np.uint8), 0x00000803), gz)


def write_idx_labels(path: Path, labels: np.ndarray, gz: bool = False) -> Path:
    return _write(path, idx_bytes(np.asarray(labels, dtype=np.uint8), 0x00000801), gz)


def learnable_images(labels: np.ndarray, channels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(N, C, size, size) uint8 noise with a bright band of rows whose position encodes the label."""
    n = len(labels)
    images = rng.integers(0, 60, size=(n, channels, size, size), dtype=np.uint8)
    band = size // 10
    for c in range(10):
        rows = slice(c * band, (c + 1) * band)
        images[labels == c, :, rows, :] += np.uint8(180)
    return images


def balanced_labels(n: int, rng: np.random.Generator, num_classes: int = 10) -> np.ndarray:
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def make_idx_dataset(folder: Path, n_train: int, n_test: int, gz: bool = False, seed: int = 0) -> Path:
    """Write the four official IDX files (MNIST / Fashion-MNIST layout) into `folder`; returns it."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = balanced_labels(n, rng)
        images = learnable_images(labels, 1, 28, rng)[:, 0]
        write_idx_images(folder / IDX_NAMES[f"{split}_images"], images, gz=gz)
        write_idx_labels(folder / IDX_NAMES[f"{split}_labels"], labels, gz=gz)
    return folder


class _Python2StylePickler(pickle._Pickler):
    """Pickles bytes and str as Python 2 `str` opcodes and numpy globals under numpy.core, as the official
    CIFAR files (written by Python 2 and numpy 1.x) do, so the reader is tested on what it will really see."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("ascii"))  # Python 2 str was bytes

    dispatch[str] = save_str

    def save_global(self, obj, name=None) -> None:
        module, name = obj.__module__, name or obj.__qualname__
        if module.startswith("numpy._core"):
            module = module.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def cifar_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Python2StylePickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def cifar_batch(labels: np.ndarray, rng: np.random.Generator, label: bytes) -> dict:
    images = learnable_images(labels, 3, 32, rng)
    return {
        b"batch_label": label,
        b"labels": [int(v) for v in labels],
        b"data": images.reshape(len(labels), 3 * 32 * 32),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }


def cifar_files(n_per_batch: int, seed: int = 0) -> dict[str, bytes]:
    """The seven files of cifar-10-batches-py/ as pickled bytes, each batch holding n_per_batch images."""
    rng = np.random.default_rng(seed)
    files = {}
    for i in range(1, 6):
        label = f"training batch {i} of 5".encode()
        files[f"data_batch_{i}"] = cifar_pickle(cifar_batch(balanced_labels(n_per_batch, rng), rng, label))
    files["test_batch"] = cifar_pickle(
        cifar_batch(balanced_labels(n_per_batch, rng), rng, b"testing batch 1 of 1")
    )
    meta = {
        b"num_cases_per_batch": n_per_batch,
        b"label_names": [n.encode() for n in CIFAR_CLASSES],
        b"num_vis": 3072,
    }
    files["batches.meta"] = cifar_pickle(meta)
    return files


def make_cifar_dataset(folder: Path, n_per_batch: int, as_tar: bool = False, seed: int = 0) -> Path:
    """Write cifar-10-batches-py/ into `folder`, or with as_tar the official cifar-10-python.tar.gz
    holding it. Returns `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = cifar_files(n_per_batch, seed)
    if as_tar:
        with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        sub = folder / "cifar-10-batches-py"
        sub.mkdir(exist_ok=True)
        for name, data in files.items():
            (sub / name).write_bytes(data)
    return folder


def replace_spec(monkeypatch, name: str, **changes) -> None:
    """Swap fields of a catalog entry for one test (e.g. system_dirs, mirrors, checksums)."""
    monkeypatch.setitem(catalog.BUILTIN, name, dataclasses.replace(catalog.BUILTIN[name], **changes))
