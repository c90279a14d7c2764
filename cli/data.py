"""`zoo data list` and `zoo data fetch`."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from cli.console import expected_errors, out, safe
from cli.render import fits
from zoo.data import dataset_names, dataset_status, fetch, get_dataset_info

app = typer.Typer(help="Find, check and download datasets.", no_args_is_help=True)

_CHECK_STYLE = {"ok": "green", "mismatch": "bold red", "unknown": "yellow", "missing": "red"}


@app.command("list")
@expected_errors
def list_datasets(
    data_dir: Annotated[
        Path | None, typer.Option(help="Also look in this folder (or $ZOO_DATA_DIR).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Each dataset: where it was found, file sizes and whether the checksums match."""
    statuses = [dataset_status(name, data_dir) for name in dataset_names()]
    if as_json:
        typer.echo(json.dumps([_status_dict(s) for s in statuses], indent=2))
        return
    wide = _datasets_table(statuses, with_folder=True)
    if fits(wide, out):
        out.print(wide)
        return
    # an 80-column log: the folder on a line of its own, so neither it nor a file name is cut to `…`
    for status in statuses:
        out.print(f"[bold cyan]{safe(status.name)}[/]: {_where(status)}", soft_wrap=True)
        out.print(_datasets_table([status], with_folder=False))


def _where(status) -> str:
    """Where a dataset was found (safe: a folder name can hold anything), or how to fetch it."""
    return safe(status.folder) if status.folder else f"[red]not found[/] (zoo data fetch {safe(status.name)})"


def _datasets_table(statuses, *, with_folder: bool) -> Table:
    table = Table(title="datasets" if with_folder else None)
    if with_folder:
        table.add_column("dataset", style="bold cyan", no_wrap=True)
        table.add_column("found in", no_wrap=True)
    table.add_column("file", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("checksum", no_wrap=True)
    for status in statuses:
        for i, f in enumerate(status.files or [None]):
            first = []
            if with_folder:  # the dataset and its folder on its first row only
                first = [safe(status.name), _where(status)] if i == 0 else ["", ""]
            if f is None:
                table.add_row(*first, "", "", "")
                continue
            style, checksum = _CHECK_STYLE.get(f.checksum), safe(f.checksum)
            checked = f"[{style}]{checksum}[/]" if style else checksum  # `[]x[/]` would be a MarkupError
            table.add_row(*first, safe(f.name), _size(f.size), checked)
        table.add_section()
    return table


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _status_dict(status) -> dict:
    return {
        "dataset": status.name,
        "folder": str(status.folder) if status.folder else None,
        "searched": [str(p) for p in status.searched],
        "classes": list(get_dataset_info(status.name).class_names),
        "files": [
            {"name": f.name, "path": str(f.path) if f.path else None, "size": f.size, "checksum": f.checksum}
            for f in status.files
        ],
    }


@app.command("fetch")
@expected_errors
def fetch_dataset(
    name: Annotated[str, typer.Argument(help="fashion-mnist, mnist or cifar10.")],
    mirror: Annotated[str | None, typer.Option(help="Base URL to download the official files from.")] = None,
) -> None:
    """Download a dataset's official files (checksums verified) into artifacts/data/NAME/."""
    get_dataset_info(name)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=out,
        transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(filename: str, done: int, total: int | None) -> None:
            if filename not in tasks:
                tasks[filename] = progress.add_task(safe(filename), total=total)
            progress.update(tasks[filename], completed=done, total=total)

        folder = fetch(name, mirror=mirror, on_progress=on_progress)
    out.print(f"{safe(name)} is in [bold]{safe(folder)}[/]", highlight=False)
