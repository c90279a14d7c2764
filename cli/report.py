"""`zoo report TARGET`: plots and one self-contained HTML page per run."""

from pathlib import Path
from typing import Annotated

import typer

from cli.console import err, expected_errors, out, safe
from cli.options import Pretrained


@expected_errors
def report(
    target: Annotated[str, typer.Argument(help="best, a study, a model name or a run directory.")] = "best",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default artifacts/reports/<name>/).")
    ] = None,
    study: Annotated[str | None, typer.Option(help="With `best`: only this study.")] = None,
    storage: Annotated[str | None, typer.Option(help="Study storage URL (default artifacts/zoo.db).")] = None,
    image_index: Annotated[int, typer.Option(help="Test image whose feature maps are shown.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    pretrained: Pretrained = False,
) -> None:
    """One HTML page per run: learning curves, confusion matrix, filters, feature maps, examples, study.

    Also the benchmark plots when `zoo bench` results exist; prints each page's path."""
    # Imported here: matplotlib and friends cost a noticeable start-up time every other command would pay.
    from zoo.report import report_targets

    reports = report_targets(
        target,
        out=out_dir,
        storage=storage,
        study=study,
        image_index=image_index,
        data_dir=data_dir,
        pretrained=pretrained,
        on_start=lambda t: err.print(f"reporting {safe(t.model)} from {safe(t.run_dir)}", highlight=False),
        on_note=lambda note: err.print(f"[yellow]note:[/] {safe(note)}", highlight=False, soft_wrap=True),
    )
    for path in reports:
        out.print(safe(path), highlight=False, soft_wrap=True)
