"""Download a dataset's official files and put each in place only after its checksum matches."""

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from zoo.data.catalog import FileSpec, get_dataset_spec
from zoo.data.checksums import checksum_status, file_digest
from zoo.errors import DataError
from zoo.fileio import atomic_path
from zoo.paths import data_cache_dir

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, total bytes or None)

_CHUNK = 1 << 16
_TIMEOUT_S = 60


class _Failed(Exception):
    """One mirror failed for one file; the caller tries the next mirror."""


def _download(url: str, spec: FileSpec, target: Path, on_progress: ProgressFn | None) -> None:
    # The temporary file lives beside the target so the final rename is atomic; any failure below
    # leaves atomic_path to delete it, so a cut-off or corrupt download never looks like a real file.
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(tmp, "wb") as out:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                if on_progress:
                    on_progress(target.name, done, total)
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(target.name, done, total)
        except urllib.error.HTTPError as e:
            raise _Failed(f"HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise _Failed(str(e.reason)) from None
        except (OSError, http.client.HTTPException) as e:
            raise _Failed(f"{type(e).__name__}: {e}") from None
        if total is not None and done != total:
            raise _Failed(f"the connection closed after {done} of {total} bytes")
        if checksum_status(tmp, spec, name=target.name) != "ok":
            raise _Failed(f"checksum mismatch: md5 {file_digest(tmp, 'md5')}, expected {spec.md5}")


def _download_from_any(
    spec: FileSpec, mirrors: list[str], target: Path, on_progress: ProgressFn | None
) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        try:
            _download(url, spec, target, on_progress)
            return
        except _Failed as e:
            failures.append(f"{url}: {e}")
    raise DataError(f"could not download {target.name}: {'; '.join(failures)}")


def fetch(
    name: str,
    *,
    mirror: str | None = None,
    dest: Path | None = None,
    on_progress: ProgressFn | None = None,
) -> Path:
    """Download `name`'s official files into `dest` (default: the artifacts data cache) and return it.

    Tries `mirror` (a base URL) or else each default mirror in turn; files already there and verified
    are kept. A failure raises DataError and leaves no partial file.
    """
    spec = get_dataset_spec(name)
    folder = Path(dest) if dest is not None else data_cache_dir(spec.info.name)
    mirrors = [mirror] if mirror else list(spec.mirrors)
    for file in spec.downloads:
        target = folder / file.md5_form
        if target.is_file() and checksum_status(target, file) == "ok":
            if on_progress:
                size = target.stat().st_size
                on_progress(target.name, size, size)
            continue
        _download_from_any(file, mirrors, target, on_progress)
    return folder
