"""A pydantic ValidationError as the one line zoo prints about a bad file or option. Each file format has
its own reader (run.json, the ONNX metadata, a manifest, results.json, a sidecar), but a bad key should
read the same whichever file it is in: pydantic's own text names the error class, not the key's fix."""

from collections.abc import Collection, Sequence

from pydantic import ValidationError


def first_problem(
    exc: ValidationError, *, keys: Sequence[str] = (), skip: Collection[str] = ()
) -> tuple[str, str]:
    """(where, what) of the first error: ("std.0", "input should be greater than 0").

    `where` is the dotted key path, "the top level" when the whole value is wrong; parts in `skip` are
    left out (a tagged union's tags name no key of the file). `what` is pydantic's message in lower case,
    except "missing" for a missing key, "unknown key" for a key the model forbids (with the `keys` there
    are, when given) and a validator's own sentence without pydantic's "Value error, " before it."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"] if part not in skip) or "the top level"
    kind = error["type"]
    if kind == "missing":
        return where, "missing"
    if kind == "extra_forbidden":
        return where, f"unknown key (the keys are {', '.join(keys)})" if keys else "unknown key"
    if kind == "value_error":
        return where, str(error.get("ctx", {}).get("error", error["msg"]))
    return where, error["msg"].lower()


def problem_line(exc: ValidationError) -> str:
    """`first_problem` as one "where: what" phrase, for the messages that quote it whole."""
    return ": ".join(first_problem(exc))
