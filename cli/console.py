"""Consoles, the one way to print untrusted text, and the one place expected errors become a one-line
message and an exit code."""

import _thread
import contextlib
import errno
import functools
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from zoo.core import stop
from zoo.core.errors import UsageError, ZooError
from zoo.core.schema import NOT_PRINTABLE

# emoji=False: a `:name:` in a file name or a class name is text, not a picture to substitute
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

F = TypeVar("F", bound=Callable)

# C0 and C1 controls and DEL (ESC starts terminal escape sequences; CR and BS overwrite what is shown),
# line and paragraph separators, the bidirectional overrides, embeddings, isolates and marks (they reorder
# what the terminal shows: "exe.txt" can read as "txt.exe"), and lone surrogates (undecodable bytes of a
# file name, which no encoder can write).
_UNPRINTABLE = re.compile(f"[{NOT_PRINTABLE}\ud800-\udfff]")


def printable(text: object) -> str:
    """`text` on one line with every control, bidi or surrogate character shown as its Python escape
    (`\\x1b`, `\\u202e`, `\\n`): for plain output (typer.echo, a stream's write, a rich `Text`), where rich
    markup is not parsed. Where it is, use `safe`."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], str(text))


def safe(text: object) -> str:
    """Text zoo did not write itself, ready for rich: `printable`, with rich markup escaped.

    Names of models, datasets, classes, files, folders and studies, exception messages and anything read
    from a file, a storage or ONNX metadata may hold `[/]` (a MarkupError traceback), `[link=...]` (a
    hyperlink) or escape sequences; through `safe` they print as the characters they are.

    The rule, checked by tests/test_terminal.py over every cli/*.py: an argument of a printing call
    (`print`, `log`, `status`, `update`, `add_task`, `add_row`, `add_column`, `Table`, `Group`, a
    `title`/`caption`; and, without markup, `echo`, `write`, `Text`) is *checked*: a literal; `safe(...)`
    (or `printable(...)` where no markup is parsed); `json.dumps(...)` (ASCII, controls escaped); an
    f-string whose every `{field}` is checked or a number with a format spec (`{x:.4f}`, `{n:,}`,
    `{n:d}`); `+`, `if`/`else`, `join`, lists, tuples and comprehensions of checked parts; a call of a cli/
    function whose every `return` is checked; a name, attribute or parameter whose every assignment
    (`=`, `append`, a `for` over it, every argument passed to it from cli/) is checked. Anything else
    (a field of a record, a loop over a library's list, a callback's argument) must go through `safe`.
    Text is made safe once, where it enters (`safe(name)`, not `safe(f"... {name}")`), and error
    messages are raised raw: `print_error` makes them safe."""
    return escape(printable(text))


def print_error(text: str) -> None:
    """`error: <text>` on stderr, one line whatever the width; `text` is raw (made safe here)."""
    err.print(f"[bold red]error:[/] {safe(text)}", highlight=False, soft_wrap=True)


def fail(text: str, code: int) -> NoReturn:
    """`print_error(text)`, then exit with `code`."""
    print_error(text)
    raise typer.Exit(code=code) from None


# Paths the user gave that no file system can hold (pathlib's exists() and is_dir() raise these on Python
# 3.11 instead of answering False): a bad input, wherever in a command the path is first touched.
_BAD_PATH = {errno.ENAMETOOLONG, errno.ELOOP}


def expected_errors(fn: F) -> F:
    """Turn a ZooError into `error: <message>` on stderr and its exit code, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ZooError as exc:
            fail(str(exc), exc.exit_code)
        except OSError as exc:
            if exc.errno not in _BAD_PATH:
                raise  # the crash handler's: an unexpected failure of the machine, not of the input
            fail(f"{exc.filename}: {exc.strerror}; pass a shorter or existing path", 2)
        except KeyboardInterrupt:
            err.print("interrupted; nothing partial was saved", highlight=False)
            raise typer.Exit(code=interrupted_exit_code()) from None

    return wrapper  # type: ignore[return-value]


_received: dict[str, int] = {}


def interrupted_exit_code() -> int:
    """128 + the signal that interrupted the command (SIGINT for Ctrl-C, SIGTERM for `kill`)."""
    return 128 + _received.get("signal", signal.SIGINT)


def _terminate(signum, frame) -> None:
    _received["signal"] = signum
    stop.request(signum)  # remembered: the exception below can be swallowed on its way (zoo/core/stop.py)
    # The interrupt can land inside a database transaction: SQLAlchemy then logs the connection it could
    # not reset, with a traceback, and a study's heartbeat thread finds the database locked; both are
    # the stop unwinding, not news (the command says "interrupted" and exits 128 + signal).
    logging.getLogger("sqlalchemy").setLevel(logging.CRITICAL)
    raise KeyboardInterrupt


def _quiet_after_a_stop(args) -> None:
    """threading.excepthook: a worker thread that fails while the command unwinds from a stop (Optuna's
    heartbeat, whose commit meets the lock of the interrupted transaction) is part of the stop."""
    if stop.requested() is None:
        threading.__excepthook__(args)


# How long a stopped command waits for other threads before leaving without them.
_STRAY_THREAD_GRACE_S = 1.0


def leave_after_stop(code: int | str | None) -> NoReturn:
    """End a stopped command even when a library's worker thread would outlive it. The interrupt can land
    between a library starting a non-daemon thread and arranging its end (Optuna's heartbeat thread is
    started in a context manager's __enter__ and stopped in its __exit__): the interpreter's shutdown then
    waits for that thread forever, and `zoo tune` said "interrupted" and never exited. Threads still
    running after a short grace are left behind (os._exit, once what was printed is flushed)."""
    deadline = time.monotonic() + _STRAY_THREAD_GRACE_S
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in others):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more to say
                stream.flush()
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


# Python runs a signal handler between any two bytecodes, also inside a weakref callback or a __del__
# (torch and onnxruntime run many during an export). There the KeyboardInterrupt it raises is printed as
# "Exception ignored" and dropped, and the command would finish as if never interrupted. Delivered again a
# moment later, the interrupt lands in ordinary code; the delay lets the finalizer return first.
_REDELIVER_AFTER_S = 0.01


def _redeliver_swallowed_interrupt(unraisable) -> None:
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        signum = _received.get("signal", signal.SIGINT)
        timer = threading.Timer(_REDELIVER_AFTER_S, _thread.interrupt_main, args=(signum,))
        timer.daemon = True
        timer.start()
        return
    sys.__unraisablehook__(unraisable)


def stop_on_sigterm() -> None:
    """Make SIGTERM (`kill`, `timeout`, a scheduler ending a job) unwind like Ctrl-C, so every
    temporary folder is removed on the way out instead of being left behind; an interrupt that lands in
    a finalizer is delivered again instead of being lost."""
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C through the same handler, so it is remembered too; a SIGINT ignored by whoever started us
    # (a background job, nohup) stays ignored.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _terminate)
    sys.unraisablehook = _redeliver_swallowed_interrupt
    threading.excepthook = _quiet_after_a_stop


def key_value_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """Repeated `--option key=value` -> {key: "value"}; dashes in keys become underscores."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} expects key=value, got {item!r}")
        pairs[key.strip().replace("-", "_")] = value
    return pairs
