"""Consoles and the one place expected errors become a one-line message and an exit code."""

import functools
import signal
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

from zoo.errors import UsageError, ZooError

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable)


def expected_errors(fn: F) -> F:
    """Turn a ZooError into `error: <message>` on stderr and its exit code, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ZooError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None
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
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Make SIGTERM (`kill`, `timeout`, a scheduler ending a job) unwind like Ctrl-C, so every
    temporary folder is removed on the way out instead of being left behind."""
    signal.signal(signal.SIGTERM, _terminate)


def key_value_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """Repeated `--option key=value` -> {key: "value"}; dashes in keys become underscores."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} expects key=value, got {item!r}")
        pairs[key.strip().replace("-", "_")] = value
    return pairs
