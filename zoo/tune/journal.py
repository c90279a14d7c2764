"""Journal storage files (`journal:FILE`): recognise one, find a torn record and repair it, keeping a backup.

Optuna's journal (JournalFileBackend) is one JSON object per line, each an operation with an integer
`op_code`, appended. A write cut short (a full disk, a killed process) leaves a last line that is not
JSON; Optuna then fails with an AssertionError, and the next append glues a new record onto the torn one,
after which every reader fails. zoo checks the file before opening it and refuses a torn one with one
line naming the file, the line and the fix, `zoo studies repair FILE`, which keeps a backup and drops only
the torn records.

Repair rewrites a file, so it first makes sure the file is a journal: its first line a whole operation,
every other line an operation or the torn start of one (`{"op_code":...` cut short, or the zeros a crash
can leave). Anything else (an SQLite study database, a binary file, an empty file, a text file of other
records, a folder, a missing path) is refused with one line saying what it is, and left untouched. The
same recognition guards `journal:FILE` storages, so that no other file is ever called torn.
"""

import json
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from zoo.core.errors import ZooError
from zoo.core.fileio import write_bytes_atomic

SQLITE_MAGIC = b"SQLite format 3\x00"
# How Optuna writes every record: json.dumps(log, separators=(",", ":")) of a dict whose first key is
# op_code. A torn record is a cut-short prefix of one.
_OPERATION_START = b'{"op_code":'
_FIX = "pass the journal file (the FILE of journal:FILE)"


class TornJournal(ZooError):
    """A journal file holds a record that was not written whole."""


class NotAJournal(ZooError):
    """A file given as a journal is something else (a database, a binary file, other records)."""


def _record(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _is_operation(record: dict) -> bool:
    op_code = record.get("op_code")
    return isinstance(op_code, int) and not isinstance(op_code, bool)


def _glued_at(line: bytes) -> int | None:
    """Where a whole operation appended after a torn one on the same line starts (the write after a
    torn one found no newline before it), or None."""
    start = line.rfind(_OPERATION_START)
    if start <= 0:
        return None
    record = _record(line[start:])
    return start if record is not None and _is_operation(record) else None


def _is_torn(line: bytes) -> bool:
    """The start of an operation cut short (after any zeros a crash left: a file extended, never written),
    possibly with a whole operation glued after it."""
    glued = _glued_at(line)
    head = (line[:glued] if glued is not None else line).lstrip(b"\0")
    return head.startswith(_OPERATION_START) or _OPERATION_START.startswith(head)


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 3  # a character cut by the 4 KiB window is no evidence
    return False


@dataclass
class JournalScan:
    """What a journal file holds: its whole operations, and the lines (1-based) of its torn records."""

    kept: list[bytes]
    torn: list[int]


def scan_journal(path: Path, data: bytes) -> JournalScan:
    """Classify `data`, the bytes of `path` (a non-empty file): a journal's operations and torn lines, or
    NotAJournal saying what the file is instead."""
    if data.startswith(SQLITE_MAGIC):
        raise NotAJournal(
            f"{path} is an SQLite database, not a journal; SQLite studies need no repair "
            f"(open it with --storage sqlite:///{path})"
        )
    lines = data.split(b"\n")
    # the first line must be Optuna's own: a whole record (an operation, checked below) or the start of
    # one cut short; a file of anything else is never taken for a torn journal
    if _record(lines[0]) is None and not lines[0].startswith(_OPERATION_START):
        if _looks_binary(data):
            raise NotAJournal(f"{path} is a binary file, not an Optuna journal; {_FIX}")
        raise NotAJournal(f"{path} is not an Optuna journal: its first line is not a journal record; {_FIX}")
    kept: list[bytes] = []
    torn: list[int] = []
    last = len(lines)  # text after the last newline: a record whose write never finished
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _record(line) if number < last else None
        if record is not None:
            if not _is_operation(record):
                raise NotAJournal(
                    f"{path} is not an Optuna journal: line {number} is a JSON record without an op_code; "
                    f"{_FIX}, or a new file name"
                )
            kept.append(line)
        elif _is_torn(line):
            torn.append(number)
            glued = _glued_at(line)
            if glued is not None and number < last:
                kept.append(line[glued:])
        else:
            raise NotAJournal(
                f"{path} is not an Optuna journal: line {number} is neither a journal record nor the "
                f"torn start of one; {_FIX}"
            )
    return JournalScan(kept, torn)


def check_journal(path: Path) -> None:
    """Before Optuna opens `path` as a journal: a missing or empty file is a new journal; anything else must
    be a journal (NotAJournal) with no torn record (TornJournal, naming the repair)."""
    if not path.exists():
        return
    if not path.is_file():
        raise NotAJournal(f"{path} is {_kind(path)}, not a journal file; {_FIX}")
    data = path.read_bytes()
    if not data:
        return
    torn = scan_journal(path, data).torn
    if torn:
        where = f"line {torn[0]}" if len(torn) == 1 else f"lines {', '.join(map(str, torn))}"
        raise TornJournal(
            f"{path} has a torn record at {where} (a write was cut short, e.g. by a full disk); "
            f"run `zoo studies repair {path}` (it keeps a backup)"
        )


def _kind(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError:
        return "not readable"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _readable_file(path: Path) -> bytes:
    """The bytes of `path`, once it is known to be a regular, non-empty file (checked before opening it:
    reading a FIFO would wait forever)."""
    if not path.exists():
        raise ZooError(f"{path} does not exist; {_FIX}")
    if not path.is_file():
        raise NotAJournal(f"{path} is {_kind(path)}, not a journal; {_FIX}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ZooError(f"cannot read {path} ({exc.strerror or exc}); {_FIX}") from None
    if not data:
        raise NotAJournal(f"{path} is empty: it holds no journal record, torn or whole, to repair")
    return data


def _backup(path: Path, data: bytes) -> Path:
    """A new file beside `path` holding `data`; never one that already exists."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        backup = path.with_name(f"{path.name}.bak-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            with open(backup, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except FileExistsError:
            continue
        shutil.copystat(path, backup)
        return backup
    raise ZooError(f"too many backups of {path} from this second; remove some and repair again")


def repair_journal(path: Path) -> tuple[Path | None, int]:
    """Drop the torn records of the journal `path` (keeping a whole record glued after one), write the file
    anew atomically (a temporary file renamed over it) after a backup, and return (the backup's path,
    records dropped); (None, 0) when nothing is torn and the file was left alone.

    Anything that is not an Optuna journal is refused (NotAJournal, one line saying what it is) before the
    file is changed. Optuna's own lock on the journal is held throughout, so no worker appends meanwhile."""
    scan_journal(path, _readable_file(path))  # what it is, before even a lock is made beside it
    from optuna.storages.journal import JournalFileSymlinkLock

    target = path.resolve()  # a symlinked journal: its target is repaired, the link stays
    lock = JournalFileSymlinkLock(str(path))  # the lock `journal:FILE` takes: FILE.lock
    try:
        lock.acquire()
    except OSError as exc:
        raise ZooError(
            f"cannot lock {path} for its repair ({exc.strerror or exc}); its folder must be writable"
        ) from None
    try:
        data = _readable_file(path)  # again, under the lock: what a worker appended meanwhile counts
        scan = scan_journal(path, data)
        if not scan.torn:
            return None, 0
        backup = _backup(target, data)
        write_bytes_atomic(target, b"".join(line + b"\n" for line in scan.kept))
        shutil.copymode(backup, target)
    finally:
        lock.release()
    return backup, len(scan.torn)
