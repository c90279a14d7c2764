"""Download one file to a target path, put in place only after its content checks out.

The temporary file lives beside the target, so the final rename is atomic; any failure leaves
`atomic_path` to delete it, so a cut-off or corrupt download never looks like a real file. Used for
datasets (md5, their publishers' checksums) and shipped weights (sha256, pinned by the registry).
"""

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from zoo.fileio import atomic_path

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, total bytes or None)
Check = Callable[[Path], str | None]  # the downloaded file -> what is wrong with it, or None

_CHUNK = 1 << 16
TIMEOUT_S = 60


class DownloadFailed(Exception):
    """One URL failed for one file: the message is one line (HTTP status, short transfer, bad digest)."""


def download(url: str, target: Path, check: Check, on_progress: ProgressFn | None = None) -> None:
    """Fetch `url` into `target`; `check` judges the complete file before it replaces anything."""
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
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
            raise DownloadFailed(f"HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise DownloadFailed(str(e.reason)) from None
        except (OSError, http.client.HTTPException) as e:
            raise DownloadFailed(f"{type(e).__name__}: {e}") from None
        if total is not None and done != total:
            raise DownloadFailed(f"the connection closed after {done} of {total} bytes")
        problem = check(tmp)
        if problem:
            raise DownloadFailed(problem)
