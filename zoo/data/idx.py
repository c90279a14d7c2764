"""IDX files (MNIST, Fashion-MNIST): parse and validate, raw or gzip-compressed."""

import gzip
import zlib
from pathlib import Path

import numpy as np

from zoo.core.errors import DataError

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"


# The largest official file (MNIST/Fashion-MNIST training images) is 47 MB: a file that inflates past
# this is not one of them, and reading it whole would cost gigabytes of memory (a "gzip bomb").
MAX_FILE_BYTES = 128 << 20


def read_file_bytes(path: Path) -> bytes:
    """The uncompressed content of `path`, decompressing when its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise DataError(
                f"{path}: inflates to more than {MAX_FILE_BYTES >> 20} MiB, larger than any official dataset "
                "file; it is not the official file, download it again"
            )
        return data
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        what = "corrupt gzip file" if path.suffix == ".gz" else "cannot read file"
        raise DataError(f"{path}: {what} ({e})") from None


def _parse(data: bytes, path: Path, magic: int, kind: str) -> tuple[list[int], int]:
    """Check the magic number and return (dimensions, header length)."""
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    got = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if got != magic:
        if data[:2] == _GZIP_MAGIC:
            raise DataError(f"{path}: the file is gzip-compressed; rename it to {path.name}.gz")
        found = "file too short" if got is None else f"found 0x{got:08x}"
        raise DataError(
            f"{path}: not an IDX {kind} file: magic number should be 0x{magic:08x} (uint8, {ndim}-d), {found}"
        )
    if len(data) < header_len:
        raise DataError(f"{path}: truncated IDX header ({len(data)} of {header_len} bytes)")
    dims = [int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)]
    return dims, header_len


def _check_length(data: bytes, path: Path, header_len: int, count: int, item_bytes: int, kind: str) -> None:
    # The header's count is the only record of how many items the file should hold, so a download cut
    # short (or two files concatenated) shows up as a length mismatch here.
    if count == 0:
        raise DataError(f"{path}: the header declares 0 {kind}")
    expected = count * item_bytes
    actual = len(data) - header_len
    if actual < expected:
        raise DataError(
            f"{path}: truncated: the header declares {count} {kind} ({expected} bytes) "
            f"but only {actual} bytes follow"
        )
    if actual > expected:
        raise DataError(f"{path}: {actual - expected} unexpected trailing bytes after {count} {kind}")


def read_idx_images(path: Path, height: int, width: int) -> np.ndarray:
    """(N, H, W) uint8 images from an IDX3 file."""
    data = read_file_bytes(path)
    (count, h, w), header_len = _parse(data, path, IMAGES_MAGIC, "image")
    if (h, w) != (height, width):
        raise DataError(f"{path}: images are {h}x{w}, expected {height}x{width}")
    _check_length(data, path, header_len, count, h * w, "images")
    # copy: frombuffer over bytes is read-only, and torch wants writable memory
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(count, h, w).copy()


def read_idx_labels(path: Path, num_classes: int) -> np.ndarray:
    """(N,) int64 labels from an IDX1 file, each in 0..num_classes-1."""
    data = read_file_bytes(path)
    (count,), header_len = _parse(data, path, LABELS_MAGIC, "label")
    _check_length(data, path, header_len, count, 1, "labels")
    labels = np.frombuffer(data, dtype=np.uint8, offset=header_len).astype(np.int64)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DataError(
            f"{path}: label {labels[bad[0]]} at index {bad[0]} is out of range 0..{num_classes - 1} "
            f"({bad.size} such labels)"
        )
    return labels


def read_idx_pair(
    images_path: Path, labels_path: Path, height: int, width: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx_images(images_path, height, width)
    labels = read_idx_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path}: holds {len(images)} images but {labels_path.name} holds {len(labels)} labels; "
            "the two files must come from the same release"
        )
    return images, labels
