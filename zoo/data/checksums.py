"""Is a file on disk the official one? md5 of the official download, or sha256 of its content."""

import gzip
import hashlib
import zlib
from pathlib import Path

from zoo.core.errors import DataError
from zoo.data.catalog import FileSpec

_CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str, *, decompress: bool = False) -> str:
    h = hashlib.new(algorithm)
    opener = gzip.open if decompress else open
    with opener(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def checksum_status(path: Path, spec: FileSpec, name: str | None = None) -> str:
    """The checksum verdict for `path` ("ok", "mismatch" or "unknown"), judged as if it were called
    `name` (default: its own name; `fetch` checks a temporary file under its final name)."""
    name = name or path.name
    md5 = spec.md5 if name == spec.md5_form else None
    if md5 is None and spec.sha256 is None:
        return "unknown"
    # .gz of a file whose content hash is recorded: hash what it decompresses to
    decompress = name.endswith(".gz") and not spec.name.endswith(".gz")
    try:
        if md5 is not None and file_digest(path, "md5") == md5:
            return "ok"
        if spec.sha256 is not None and file_digest(path, "sha256", decompress=decompress) == spec.sha256:
            return "ok"
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return "mismatch"  # not even valid gzip: certainly not the official content
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e})") from None
    return "mismatch"
