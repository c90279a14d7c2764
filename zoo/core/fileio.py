"""Atomic writes: a reader never sees half a file, and a failed write leaves the old file intact; and the
one reader of zoo's JSON object files, whose every failure is one line naming the file and the fix."""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.core import stop
from zoo.core.errors import ZooError, first_line


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would have
        os.chmod(tmp_path, 0o666 & ~umask())
        stop.check()  # a stop request whose KeyboardInterrupt a library swallowed: save nothing more
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_writable(folder: str | os.PathLike, need_bytes: int = 0, what: str = "the output") -> None:
    """Before expensive work: `folder` can be created (or exists) and written, with `need_bytes` free.

    Raises ZooError (exit 1) naming the folder, the obstacle and the fix; creates nothing."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise ZooError(
            f"cannot write {what} to {folder}: {existing} is a file, not a folder; pick another path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ZooError(f"cannot write {what} to {folder}: {existing} is not writable; pick another path")
    free = shutil.disk_usage(existing).free
    if free < need_bytes:
        raise ZooError(
            f"not enough space for {what} in {folder}: about {_mib(need_bytes)} needed, {_mib(free)} free; "
            "free some space or pick another path"
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json_object(
    path: str | os.PathLike, error: type[ZooError], *, fix: str, missing: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The text of a JSON file that must hold one object, and that object. A missing, unreadable, invalid or
    non-object file raises `error` with one line: the file, what is wrong, then `fix` (`missing` instead
    where the file does not exist). The text comes back too, for pydantic's strict `model_validate_json`."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{path} does not exist; {missing or fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
        raise error(f"{path} cannot be read ({reason}); {fix}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise error(f"{path} is not valid JSON ({first_line(exc)}); {fix}") from None
    if not isinstance(data, dict):
        raise error(f"{path} must hold one JSON object, not {type(data).__name__}; {fix}")
    return text, data


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock (flock) on the file `path` for the block: one holder at a time across the
    processes of this machine, and a killed holder's lock ends with it. The holder removes the file as it
    leaves, so no lock files pile up; a waiter that then holds the lock of a removed file opens it again."""
    import fcntl

    path = Path(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the previous holder removed this file as it left: lock the one at `path` now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding the lock, so that a waiter sees it is gone
        os.close(fd)
