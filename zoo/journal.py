"""Journal storage files (`journal:FILE`): find a torn record and repair it, keeping a backup.

Optuna's journal is one JSON record per line, appended. A write cut short (a full disk, a killed
process) leaves a last line that is not JSON; Optuna then fails with an AssertionError, and the next
append glues a new record onto the torn one, after which every reader fails. zoo checks the file before
opening it and refuses a torn one with one line naming the file, the line and the fix, `zoo studies
repair FILE`, which keeps a backup and drops only the torn record. A whole record that is no Optuna
operation (no integer `op_code`: a file of something else) is refused too; repair would not make it one.
"""

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from zoo.errors import ZooError
from zoo.fileio import write_bytes_atomic


class TornJournal(ZooError):
    """A journal file holds a record that was not written whole."""


class NotAJournal(ZooError):
    """A journal file holds whole JSON records that are not Optuna's."""


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def torn_lines(path: Path) -> list[int]:
    """1-based numbers of the lines that are not whole records (a last line without its newline is torn)."""
    data = path.read_bytes() if path.is_file() else b""
    lines = data.split(b"\n")
    torn = [i for i, line in enumerate(lines[:-1], start=1) if line.strip() and not _is_record(line)]
    if lines[-1].strip():  # text after the last newline: a record whose write never finished
        torn.append(len(lines))
    return torn


def _is_operation(line: bytes) -> bool:
    record = json.loads(line)
    return isinstance(record.get("op_code"), int) and not isinstance(record.get("op_code"), bool)


def foreign_line(path: Path) -> int | None:
    """The 1-based number of the first whole record that is no Optuna operation, or None."""
    data = path.read_bytes() if path.is_file() else b""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip() and _is_record(line) and not _is_operation(line):
            return number
    return None


def check_journal(path: Path) -> None:
    foreign = foreign_line(path)
    if foreign is not None:
        raise NotAJournal(
            f"{path} is not an Optuna journal: line {foreign} is a JSON record without an op_code; "
            "pass an Optuna journal file, or a new file name, as journal:FILE"
        )
    torn = torn_lines(path)
    if torn:
        where = f"line {torn[0]}" if len(torn) == 1 else f"lines {', '.join(map(str, torn))}"
        raise TornJournal(
            f"{path} has a torn record at {where} (a write was cut short, e.g. by a full disk); "
            f"run `zoo studies repair {path}` (it keeps a backup)"
        )


def repair_journal(path: Path) -> tuple[Path, int]:
    """Drop the torn records (keeping a record glued after one), write the file anew atomically, and
    return (the backup's path, records dropped)."""
    if not path.is_file():
        raise ZooError(f"{path} does not exist; pass the journal file (the FILE of journal:FILE)")
    data = path.read_bytes()
    kept, dropped = [], 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        if _is_record(line):
            kept.append(line)
            continue
        dropped += 1
        # A record appended after a torn one shares its line: keep the whole record at its end.
        start = line.rfind(b'{"op_code"')
        if start > 0 and _is_record(line[start:]):
            kept.append(line[start:])
    backup = path.with_name(f"{path.name}.bak-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(path, backup)
    write_bytes_atomic(path, b"".join(line + b"\n" for line in kept))
    return backup, dropped
