"""A stop the user asked for (Ctrl-C, `kill`), remembered so that it is never lost.

Python delivers a signal as an exception raised in the main thread wherever it happens to be, and a few
places drop exceptions without a trace: a finalizer's go to sys.unraisablehook (the CLI delivers those
again), and C code that clears errors (a library's `except BaseException`, C calls such as PyDict_GetItem
or PyObject_HasAttr that run a Python `__eq__` or `__getattr__`) loses them outright. The CLI's signal
handler therefore also records the signal here, and every commit point (the renames that make a file or
folder visible: zoo.core.fileio.atomic_path, zoo.core.names.replace_folder) asks first: once a stop was
requested
nothing more is saved, however the exception fared on its way.
"""

_requested: list[int] = []


def request(signum: int) -> None:
    """Record that signal `signum` asked the command to stop (called from the signal handler)."""
    if not _requested:
        _requested.append(int(signum))


def requested() -> int | None:
    """The signal that asked the command to stop, or None."""
    return _requested[0] if _requested else None


def check() -> None:
    """Raise KeyboardInterrupt when a stop was requested: called right before a result becomes visible."""
    if _requested:
        raise KeyboardInterrupt


def clear() -> None:
    """Forget a request (tests, and a library caller that handled the interrupt itself)."""
    _requested.clear()
