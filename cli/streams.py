"""stdout and stderr that fail as one line, never as a traceback, and print in any encoding.

`guard_streams()` (at the start of `zoo`) puts both behind a file descriptor writer that turns a failed
write (a full disk, a closed pipe, a lost terminal) into `OutputFailed`, and gives them an encoding error
handler that writes `+-` for `±` (and `?` for what has no ASCII form) where the terminal's encoding
(`PYTHONIOENCODING=ascii`, an old locale) cannot hold a character. `exit_code(failure)` says how the
command ends."""

import codecs
import contextlib
import errno
import io
import os
import sys
import unicodedata

from cli.console import print_error

ERRORS = "zoo.replace"

# Characters zoo's own output uses, written the way an ASCII terminal can show them.
_ASCII = {
    "±": "+-",
    "…": "...",
    "Δ": "d",
    "·": "-",
    "≥": ">=",
    "≤": "<=",
    "×": "x",
    "—": "--",
    "–": "-",
    "→": "->",
    "µ": "u",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
}


class OutputFailed(BaseException):
    """stdout or stderr cannot be written.

    A BaseException, like KeyboardInterrupt: it ends the command wherever it is raised, and library code
    that catches Exception (Optuna's `catch=`, a trial's failure reason) must not swallow it."""

    def __init__(self, stream: str, error: OSError) -> None:
        super().__init__(stream, error)
        self.stream, self.error = stream, error


class _GuardedFd(io.RawIOBase):
    """A file descriptor whose first failed write raises OutputFailed; later writes are dropped, so that
    flushing at exit (the interpreter's, a progress bar's last refresh) does not fail a second time."""

    def __init__(self, fd: int, stream: str) -> None:
        super().__init__()
        self._fd, self.stream, self.failed = fd, stream, False
        self.name = f"<{stream}>"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        if self.failed:
            return len(data)
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            self.failed = True
            raise OutputFailed(self.stream, exc) from None


def _ascii(char: str) -> str:
    folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    return _ASCII.get(char) or folded or "?"


def _replace(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(_ascii(c) for c in error.object[error.start : error.end]), error.end


def _guarded(stream, name: str, fd: int):
    """`stream` rebuilt over a guarded descriptor, same encoding and buffering; a stream without a
    descriptor (a test's capture) is left as it is. A stream the shell closed (`zoo models >&-`: Python
    then sets it to None) is given a descriptor that refuses every write, so it fails as any other broken
    output does, one line and exit 1, instead of as an AttributeError."""
    if stream is None:
        return _closed_stream(name, fd)
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError):
        return stream
    return io.TextIOWrapper(
        io.BufferedWriter(_GuardedFd(fd, name)),
        encoding=stream.encoding,
        errors=ERRORS,
        line_buffering=stream.line_buffering,
        write_through=getattr(stream, "write_through", False),
    )


def _closed_stream(name: str, fd: int) -> io.TextIOWrapper:
    """A text stream on descriptor `fd`, which the shell closed: /dev/null opened read-only takes the
    number, so every write fails with EBADF (the error a closed descriptor gives) and no file the command
    opens later can take the number and receive its output."""
    with contextlib.suppress(OSError):
        os.fstat(fd)
        fd = -1  # something already holds the number: leave it, and write nowhere
    if fd >= 0:
        null = os.open(os.devnull, os.O_RDONLY)
        if null != fd:
            os.dup2(null, fd, inheritable=False)
            os.close(null)
    else:
        fd = os.open(os.devnull, os.O_RDONLY)
    return io.TextIOWrapper(io.BufferedWriter(_GuardedFd(fd, name)), encoding="utf-8", errors=ERRORS)


def guard_streams() -> None:
    codecs.register_error(ERRORS, _replace)
    sys.stdout = _guarded(sys.stdout, "stdout", 1)
    sys.stderr = _guarded(sys.stderr, "stderr", 2)


def exit_code(failure: OutputFailed) -> int:
    """A closed pipe (`zoo models | head -1`) ends quietly with 141, the status of a program killed by
    SIGPIPE, which is what shells and `head` expect of every Unix tool: a script with `pipefail` still
    learns the output was cut. Any other failure of stdout is one line on stderr and exit 1; when stderr
    itself fails, the exit status is all that is left to say it."""
    if failure.error.errno == errno.EPIPE:
        return 141
    if failure.stream == "stdout":
        with contextlib.suppress(OutputFailed):
            print_error(f"cannot write to standard output: {os.strerror(failure.error.errno or errno.EIO)}")
    return 1
