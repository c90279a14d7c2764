"""Options several commands share, declared once so their names and help read the same everywhere."""

from pathlib import Path
from typing import Annotated

import typer

Storage = Annotated[
    str | None,
    typer.Option(
        help="Study storage: sqlite:///FILE (default artifacts/zoo.db), postgresql://... or journal:FILE."
    ),
]
DataDir = Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
OnlyStudy = Annotated[str | None, typer.Option(help="With `best`: only this study.")]
Assignments = Annotated[
    list[str] | None,
    typer.Option("--set", help="Fix a value (removed from the search): key=value, repeatable."),
]
