"""The last line of defence: an exception no command expected is one line on stderr and a crash file."""

import os
import platform
import re
import sys
import tempfile
import time
import traceback

import zoo
from cli.console import printable
from cli.streams import OutputFailed
from zoo.core import paths
from zoo.core.fileio import atomic_path

EXIT_SOFTWARE = 70  # sysexits.h: an internal software error

# postgresql://user:secret@host -> postgresql://user:***@host: a crash file is meant to be attached to a
# bug report, and the command line or a message may hold a storage URL with its password.
_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")


def report_crash(exc: BaseException) -> int:
    """`internal error: <type>: <first line>; details in FILE; please report it` on stderr, the traceback
    in FILE (`<artifacts>/logs/crash-<time>-<pid>.txt`, or a temporary file when the artifacts folder
    cannot be written); with ZOO_DEBUG=1, the traceback on stderr instead. Returns the exit code, 70."""
    details = _PASSWORD.sub(r"\1***@", _details(exc))
    try:
        if os.environ.get("ZOO_DEBUG", "") not in ("", "0"):
            _write(details + f"internal error: {_summary(exc)}; please report it\n")
        else:
            saved, note = _save(details)
            if saved is None:
                _write(details)
            _write(f"internal error: {_summary(exc)}; {note}; please report it\n")
    except OutputFailed:
        pass  # stderr is gone too: the exit code is all that is left to say it
    return EXIT_SOFTWARE


def _summary(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {lines[0]}" if lines else "")


def _details(exc: BaseException) -> str:
    return (
        f"zoo {zoo.__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"command: {' '.join(sys.argv)}\n"
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n" + "".join(traceback.format_exception(exc))
    )


def _save(details: str) -> tuple[str | None, str]:
    """Where the details were written, and the words that say so."""
    path = paths.artifacts_dir() / "logs" / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(details, encoding="utf-8")
        return str(path), f"details in {path}"
    except OSError as exc:
        reason = f"{path.parent} cannot be written: {exc.strerror or exc}"
    try:
        fd, fallback = tempfile.mkstemp(prefix="zoo-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(details)
        return fallback, f"details in {fallback} ({reason})"
    except OSError as exc:
        return None, f"no file for the details above ({reason}; nor a temporary file: {exc.strerror or exc})"


def _write(text: str) -> None:
    """Plain text on stderr, each line made printable (a message may carry a file name's escapes)."""
    sys.stderr.write("".join(printable(line) + "\n" for line in text.splitlines()))
    sys.stderr.flush()
