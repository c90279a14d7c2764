"""Names that become paths (studies, models, exports, reports) and the folders zoo builds in place.

A name is checked once, where it enters (the command line, a study read from a shared storage, a run
record), and every path built from names is checked again to stay inside the artifacts root, so no
name, wherever it came from, decides where zoo writes outside that root.

Folders that other commands read appear whole: they are built under a hidden marker name in the same
parent and renamed into place. Discovery skips every hidden entry, so a folder being built, or left
behind by a killed process, is never taken for a run or an export.
"""

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from zoo.core import paths, stop
from zoo.core.errors import UntrustedPath, UsageError

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


def folder_from(value: object, source: str, roots: Sequence[tuple[Path, str]]) -> Path:
    """A folder that something zoo read names (an export's metadata `run_dir`), accepted only inside one
    of `roots` (`(root, what it is)`): no '..', and no link in it leading out. The value is judged as
    written first, so a path elsewhere is refused without being looked at; `source` says where it was
    read. Anything else is one UntrustedPath line naming the roots and the fix."""
    shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."  # repr: no control chars
    where = " or ".join(f"{what} {root}" for root, what in roots)
    if not isinstance(value, str) or not value or "\x00" in value:
        problem = "is not a path"
    elif ".." in Path(value).parts:
        problem = "climbs out with '..'"
    else:
        path = Path(os.path.abspath(value))
        # as written (the root as given or resolved: metadata holds resolved paths), then with links followed
        near = [r for r, _ in roots if any(path.is_relative_to(b) for b in _spellings(r))]
        real = swap_target(path)
        if any(real.is_relative_to(swap_target(r)) and real != swap_target(r) for r in near):
            return path
        problem = "is outside" if not near else "leads outside (a link)"
        problem += f" {where}"
    raise UntrustedPath(
        f"{source} {shown} {problem}; zoo reads run folders only there: pass --artifacts with the "
        "artifacts folder that holds the run"
    )


def _spellings(root: Path) -> set[Path]:
    return {Path(os.path.abspath(root)), swap_target(root)}


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


def swap_target(final: Path) -> Path:
    """The folder that writing a folder to `final` really replaces: the one a symlinked `final` points to
    (the link stays a link and shows the new folder), else `final` itself; absolute, with any link in
    its parents resolved, so a temporary folder built beside it is on the same filesystem."""
    return Path(os.path.realpath(final))


def check_replaceable(final: Path, keep: Iterable[tuple[Path, str]] = ()) -> Path:
    """The folder `replace_folder(..., final)` would replace (swap_target), refused when replacing it as a
    whole cannot work or would take away what the command stands on: `/`, a file, the current directory
    or a folder holding it, the artifacts root or a folder holding it, and each `(path, what)` of `keep`
    (what the command reads, e.g. the run being exported) or a folder holding it. Called before any
    work by the commands that write a folder; one UsageError naming the path and the fix."""
    target = swap_target(final)
    plain = Path(os.path.abspath(final))
    shown = f"{final}" if target == plain else f"{final} (a link to {target})"
    if target.parent == target:
        raise UsageError(f"{shown} is the root folder and cannot be replaced; pick a new or empty folder")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{shown} is a file, not a folder; pick a new or empty folder")
    protected = [(paths.artifacts_dir(), "the artifacts folder"), *keep]
    with contextlib.suppress(OSError):  # a removed current directory: nothing to protect there
        protected.insert(0, (Path.cwd(), "the current directory"))
    for path, what in protected:
        real = swap_target(Path(path))
        if real == target or real.is_relative_to(target):
            problem = f"is {what}" if real == target else f"holds {what} ({real})"
            raise UsageError(
                f"{shown} {problem} and cannot be replaced as a whole; pick a new or empty folder"
            )
    return target


def replace_folder(built: Path, final: Path) -> None:
    """Put the folder `built` at `final`, replacing any folder there as a whole.

    With an atomic exchange (Linux) a reader sees the old folder or the new one, never neither; where
    the filesystem cannot exchange, the old folder is renamed aside first, then the new one in. The old
    folder is removed last; a kill before that leaves it under a marker name for `remove_stale`. Nothing
    is replaced once the user asked the command to stop (zoo.core.stop).

    A symlinked `final` is followed (swap_target): the folder it points to is replaced and the link
    stays a link. `built` is best made beside that folder (`temporary_sibling(swap_target(final))`);
    made elsewhere, it is first moved there under a marker name. Nothing is left beside either."""
    stop.check()
    target = check_replaceable(final)
    target.parent.mkdir(parents=True, exist_ok=True)  # a link to a folder not made yet
    if os.path.samefile(built.parent, target.parent):
        _swap_in(built, target)
        return
    moved = _marked(target, TMP_PREFIX)
    try:
        shutil.move(built, moved)  # a rename, or a copy where the link leads to another filesystem
        stop.check()
        _swap_in(moved, target)
    finally:
        shutil.rmtree(moved, ignore_errors=True)


def _swap_in(built: Path, final: Path) -> None:
    """Replace the real folder (or nothing) at `final` with `built`, a folder in the same parent."""
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
