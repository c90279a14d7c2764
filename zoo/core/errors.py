"""Errors the user can fix. The CLI prints their message as one line and exits with `exit_code`."""


class ZooError(Exception):
    """An expected failure: the message names the problem and the fix."""

    exit_code = 1


class UsageError(ZooError):
    """Bad input on the command line or in a call: unknown name, malformed value."""

    exit_code = 2


class DataError(ZooError):
    """A dataset is missing, corrupt or not in the expected format."""


class CheckpointError(ZooError):
    """A run directory is missing files or its files do not match."""


class InternalError(ZooError):
    """A broken invariant inside zoo: a bug to report, not bad input. Exit 70 (EX_SOFTWARE)."""

    exit_code = 70

    def __init__(self, message: str) -> None:
        super().__init__(f"internal error (please report it): {message}")


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries' messages run to many lines), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class UntrustedPath(ZooError):
    """A path read from a file or a storage (a trial's `run_dir`, a resume request) that zoo refuses to
    use: outside the artifacts root or not made of checked names. Whoever can write a shared storage must
    not choose what zoo deletes, rewrites or loads."""
