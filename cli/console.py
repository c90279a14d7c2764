"""Consoles and the one place expected errors become a one-line message and an exit code."""

import functools
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

from zoo.errors import ZooError

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
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]
