"""Options several commands share, declared once so their names and help read the same everywhere, and
the range check every float option goes through."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.console import fail
from zoo.models.params import Rule

Storage = Annotated[
    str | None,
    typer.Option(
        help="Study storage: sqlite:///FILE (default artifacts/zoo.db), postgresql://... or journal:FILE."
    ),
]
DataDir = Annotated[
    Path | None, typer.Option(help="Folder with a built-in dataset's official files (or $ZOO_DATA_DIR).")
]
Dataset = Annotated[
    str | None,
    typer.Option(
        help="The dataset (`zoo data list`): needed by a dataset-agnostic model (cnn, mlp, resnet ...); "
        "a preset such as fashion-cnn takes its own."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
Pretrained = Annotated[
    bool,
    typer.Option("--pretrained", help="A variant's name means its shipped weights (`zoo weights list`)."),
]
OnlyStudy = Annotated[str | None, typer.Option(help="With `best`: only this study.")]
Assignments = Annotated[
    list[str] | None,
    typer.Option("--set", help="Fix a value (removed from the search): key=value, repeatable."),
]


def within(rule: Rule) -> Callable:
    """The callback of a float option: `nan`, `inf` and values outside `rule` (zoo/models/params.py, which
    declares the ranges of `--set` too) are one line naming the option and its range, exit 2, while the
    command line is parsed: before any data is loaded. A NaN compares false with every bound, so an
    unchecked `--max-int8-drop nan` would let any int8 model through its accuracy gate."""

    def check(param: typer.CallbackParam, value: float | None) -> float | None:
        if value is not None and not rule.accepts(value):
            option = param.opts[0] if param.opts else param.name
            fail(f"{option}={value} is not allowed: {option} takes {rule.describe()}", code=2)
        return value

    return check
