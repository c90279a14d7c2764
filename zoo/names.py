"""Names that become paths (studies, models, exports, reports) and the folders zoo builds in place.

A name is checked once, where it enters (the command line, a study read from a shared storage, a run
record), and every path built from names is checked again to stay inside the artifacts root, so no
name, wherever it came from, decides where zoo writes outside that root.

Folders that other commands read appear whole: they are built under a hidden marker name in the same
parent and renamed into place. Discovery skips every hidden entry, so a folder being built, or left
behind by a killed process, is never taken for a run or an export.
"""

import errno
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

from zoo import paths, stop
from zoo.errors import UntrustedPath, UsageError

MAX_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
RULE = f"letters, digits, '.', '_' and '-', not starting with '.', at most {MAX_LENGTH} characters"

# Marker prefixes of folders under construction (`.zoo-tmp.`) and of replaced ones awaiting removal
# (`.zoo-old.`); the host and pid in the name tell a later process whether the owner is still alive.
TMP_PREFIX = ".zoo-tmp."
OLD_PREFIX = ".zoo-old."
STALE_AFTER_SECONDS = 24 * 3600  # for folders of another host, whose pids we cannot check


def is_valid_name(name: object, max_length: int = MAX_LENGTH) -> bool:
    return isinstance(name, str) and len(name) <= max_length and _NAME.fullmatch(name) is not None


def check_name(name: object, what: str) -> str:
    """Return `name` if it may become a folder name, else a UsageError naming the rule."""
    if not is_valid_name(name):
        raise UsageError(f"{what} {name!r} is not a valid name: use {RULE}")
    return name  # type: ignore[return-value]


def check_derived(name: str, what: str) -> str:
    """A folder name built from checked names plus a suffix (`<study>-t<trial>-...`) may be longer."""
    if not is_valid_name(name, max_length=200):
        raise UsageError(f"{what} {name!r} is not a valid name: use {RULE}")
    return name


def inside(root: Path, *names: str, what: str = "name") -> Path:
    """`root/names...`, each name checked; the result must resolve to a path inside `root`."""
    for name in names:
        check_derived(name, what)
    path = root.joinpath(*names)
    resolved_root = root.resolve()
    if not path.resolve().is_relative_to(resolved_root):  # a symlinked folder pointing elsewhere
        raise UsageError(f"{path} leads outside {root}; remove the link or pick another name")
    return path


def run_dir_from(value: object, source: str) -> Path:
    """The run folder that something zoo read names (a trial's `run_dir`, a study's final run, a resume
    request), accepted only as `<runs root>/<model>/<run>` with checked names and no link leading out:
    the same rule as a path zoo builds from typed names. `source` says where the value was read (`study
    'x' trial 3 attribute run_dir`, a file and its key); anything else is one UntrustedPath line."""
    root = paths.runs_dir()
    shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."  # repr: no control chars
    problem, parts = _run_dir_parts(value, root)
    if problem is None:
        try:
            return inside(root, *parts, what="run folder")
        except UsageError as exc:  # a symlinked folder under the root that points elsewhere
            problem = f"is refused ({exc})"
    raise UntrustedPath(f"{source} {shown} {problem}; zoo only uses run folders <model>/<run> under {root}")


def _run_dir_parts(value: object, root: Path) -> tuple[str | None, tuple[str, ...]]:
    """(why `value` is no run folder under `root`, or None; its <model> and <run> names)."""
    if not isinstance(value, str) or not value:
        return "is not a path", ()
    if ".." in Path(value).parts:
        return "climbs out with '..'", ()
    path, base = Path(os.path.abspath(value)), Path(os.path.abspath(root))  # relative: both from the cwd
    if not path.is_relative_to(base):
        return "is outside the runs folder", ()
    parts = path.relative_to(base).parts
    if len(parts) != 2:
        return "is not a run folder", ()
    bad = [part for part in parts if not is_valid_name(part, max_length=200)]
    if bad:
        return f"holds {bad[0]!r}, which is not a valid name", ()
    return None, parts


def is_hidden(path: Path, root: Path) -> bool:
    """True when any part of `path` below `root` starts with a dot: temporary, replaced or foreign."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def discover(root: Path, pattern: str) -> list[Path]:
    """`root.rglob(pattern)` without anything inside a hidden folder, sorted."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob(pattern) if not is_hidden(p, root))


def _host() -> str:
    return socket.gethostname().replace(".", "_")  # the marker name splits on dots


def _marked(final: Path, prefix: str) -> Path:
    """`<prefix><host>.<pid>.<random>.<name>` beside `final`: hidden from discovery, judged by _is_stale."""
    return final.parent / f"{prefix}{_host()}.{os.getpid()}.{secrets.token_hex(4)}.{final.name}"


def temporary_sibling(final: Path) -> Path:
    """A new empty folder beside `final`, named so that discovery skips it and cleanup can judge it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    path = _marked(final, TMP_PREFIX)
    path.mkdir()
    return path


def _is_stale(path: Path) -> bool:
    parts = path.name.split(".", 5)  # ['', 'zoo-tmp', host, pid, token, name]
    if len(parts) < 6 or not parts[3].isdigit():
        return False
    host, pid = parts[2], int(parts[3])
    if host != _host():
        try:
            return time.time() - path.stat().st_mtime > STALE_AFTER_SECONDS
        except OSError:
            return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_stale(parent: Path) -> list[Path]:
    """Remove the marker folders in `parent` whose process is gone (a killed export or training)."""
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        if entry.name.startswith((TMP_PREFIX, OLD_PREFIX)) and entry.is_dir() and _is_stale(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where the system lacks it."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # this filesystem cannot exchange
        return False
    raise OSError(error, os.strerror(error), str(a))


def replace_folder(built: Path, final: Path) -> None:
    """Put the folder `built` at `final`, replacing any folder there as a whole.

    With an atomic exchange (Linux) a reader sees the old folder or the new one, never neither; where
    the filesystem cannot exchange, the old folder is renamed aside first, then the new one in. The old
    folder is removed last; a kill before that leaves it under a marker name for `remove_stale`. Nothing
    is replaced once the user asked the command to stop (zoo.stop)."""
    stop.check()
    if not final.exists():
        os.rename(built, final)
        return
    if _exchange(built, final):
        shutil.rmtree(built, ignore_errors=True)  # `built` now holds the old folder
        return
    aside = _marked(final, OLD_PREFIX)
    os.rename(final, aside)
    os.rename(built, final)
    shutil.rmtree(aside, ignore_errors=True)
