"""`zoo data list`, `zoo data fetch`, and folder datasets: `zoo data add` and `zoo data remove`."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cli.console import err, expected_errors, out, safe
from cli.options import AsJson, within
from cli.render import fits
from zoo.data import (
    add_folder_dataset,
    builtin_dataset_names,
    dataset_status,
    fetch,
    folder_dataset_names,
    folder_status,
    get_dataset_info,
    remove_folder_dataset,
)
from zoo.data.findings import notes, warnings
from zoo.data.folders import AddResult, FolderStatus
from zoo.data.manifest import Manifest
from zoo.models.params import Rule

app = typer.Typer(
    help="Find, check and download datasets; add your own folders of images.", no_args_is_help=True
)

_CHECK_STYLE = {"ok": "green", "mismatch": "bold red", "unknown": "yellow", "missing": "red"}


@app.command("list")
@expected_errors
def list_datasets(
    data_dir: Annotated[
        Path | None, typer.Option(help="Also look in this folder (or $ZOO_DATA_DIR).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Each dataset: where it was found, file sizes and whether the checksums match; then the folder
    datasets (`zoo data add`) with their classes, counts, source and a check of their tensor file."""
    statuses = [dataset_status(name, data_dir) for name in builtin_dataset_names()]
    folders = [folder_status(name) for name in folder_dataset_names()]
    if as_json:
        rows = [_status_dict(s) for s in statuses] + [_folder_dict(f) for f in folders]
        typer.echo(json.dumps(rows, indent=2))
        return
    wide = _datasets_table(statuses, with_folder=True)
    if fits(wide, out):
        out.print(wide)
    else:
        # an 80-column log: the folder on a line of its own, so neither it nor a file name is cut to `…`
        for status in statuses:
            out.print(f"[bold cyan]{safe(status.name)}[/]: {_where(status)}", soft_wrap=True)
            out.print(_datasets_table([status], with_folder=False))
    if folders:
        out.print(_folders_table(folders))
    else:
        out.print("no folder datasets yet: `zoo data add NAME PATH` adds a folder of class folders of images")


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
        "kind": "built-in",
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


# ------------------------------------------------------------------------------------------ folder datasets


def _counts_text(manifest: Manifest) -> str:
    return " / ".join(f"{manifest.total(s):,} {s}" for s in manifest.splits)


def _folders_table(folders: list[FolderStatus]) -> Table:
    table = Table(title="folder datasets (zoo data add)")
    table.add_column("dataset", style="bold cyan", no_wrap=True)
    table.add_column("classes", justify="right")
    table.add_column("shape", no_wrap=True)
    table.add_column("images", no_wrap=True)
    table.add_column("source", overflow="fold")  # a path cut to `…` would name another folder
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("check", no_wrap=True)
    for f in folders:
        if f.manifest is None:
            table.add_row(
                safe(f.name), "", "", "", f"[red]{safe(f.problem)}[/]", _size(f.size), "[red]broken[/]"
            )
            continue
        m = f.manifest
        c, h, w = m.image_shape
        style = _CHECK_STYLE.get(f.check, "red")
        table.add_row(
            safe(f.name),
            f"{len(m.class_names):d}",
            f"{c:d}x{h:d}x{w:d}" + ("" if m.resize_mode == "stretch" else f" ({safe(m.resize_mode)})"),
            safe(_counts_text(m)),
            safe(m.source),
            _size(f.size),
            f"[{style}]{safe(f.check)}[/]",
        )
    return table


def _folder_dict(f: FolderStatus) -> dict:
    base = {"dataset": f.name, "kind": "folder", "folder": str(f.folder), "size": f.size, "check": f.check}
    if f.manifest is None:
        return {**base, "problem": f.problem}
    m = f.manifest
    return {
        **base,
        "classes": list(m.class_names),
        "image_shape": list(m.image_shape),
        "resize": m.resize_mode,
        "counts": {s: dict(zip(m.class_names, m.counts[s], strict=True)) for s in m.splits},
        "source": m.source,
        "layout": m.layout,
        "created_at": m.created_at,
    }


def _counts_table(manifest: Manifest) -> Table:
    table = Table(title="images per class and split")
    table.add_column("class", overflow="fold")
    for split in manifest.splits:
        table.add_column(safe(split), justify="right")
    table.add_column("total", justify="right")
    for i, name in enumerate(manifest.class_names):
        row = [manifest.counts[s][i] for s in manifest.splits]
        table.add_row(safe(name), *(f"{n:,}" for n in row), f"{sum(row):,}")
    table.add_section()
    totals = [manifest.total(s) for s in manifest.splits]
    table.add_row("[bold]all[/]", *(f"{n:,}" for n in totals), f"{sum(totals):,}")
    return table


def _add_summary(result: AddResult) -> dict:
    m = result.manifest
    return {
        "dataset": result.name,
        "status": result.status,
        "folder": str(result.folder),
        "seconds": round(result.seconds, 3),
        "files": result.files,
        "workers": result.workers,
        "changes": None
        if result.changes is None
        else {
            "added": result.changes.added,
            "removed": result.changes.removed,
            "modified": result.changes.modified,
        },
        "classes": list(m.class_names),
        "image_shape": list(m.image_shape),
        "resize": m.resize_mode,
        "counts": {s: dict(zip(m.class_names, m.counts[s], strict=True)) for s in m.splits},
        "warnings": warnings(m),
        "notes": notes(m),
        "skipped": len(m.skipped),
        "duplicates": m.checks["duplicates"],
        "imbalance": m.checks["imbalance"],
    }


@app.command("add")
@expected_errors
def add(
    name: Annotated[str, typer.Argument(help="A name for the dataset (letters, digits, '.', '_', '-').")],
    path: Annotated[
        Path,
        typer.Argument(
            help="A folder with one folder of images per class, or with train/ and test/ (and val/) "
            "that each hold them."
        ),
    ],
    size: Annotated[
        str,
        typer.Option(
            help="Resize every image to HxW pixels (48x192), or N for N x N (32); --resize says how an image "
            "of another aspect ratio gets there."
        ),
    ] = "32",
    resize: Annotated[
        str,
        typer.Option(
            help="stretch: resize to --size, the aspect ratio not kept; pad: keep it, fit inside and fill "
            "the rest with black; crop: keep it, cover and keep the centre. `zoo predict` does the same."
        ),
    ] = "stretch",
    channels: Annotated[int, typer.Option(help="1: grayscale, 3: RGB.")] = 1,
    test_fraction: Annotated[
        float,
        typer.Option(
            help="Without a test/ folder: this fraction of each class is the test set.",
            callback=within(Rule(float, low=0, high=1, low_open=True, high_open=True)),
        ),
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of that test split.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild, also from another folder or with other settings.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Decode a folder of class folders once (every core) into artifacts/data/NAME/: a uint8 tensor file and
    a manifest; then `zoo train --dataset NAME` and friends use it like a built-in dataset."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,  # a log gets the summary, not a redrawn bar
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(safe(stage), total=total)
            progress.update(tasks[stage], completed=done)

        def say(text: str) -> None:
            progress.console.print(safe(text), highlight=False)

        result = add_folder_dataset(
            name,
            path,
            size=size,
            resize=resize,
            channels=channels,
            test_fraction=test_fraction,
            seed=seed,
            force=force,
            on_progress=on_progress,
            say=say,
        )
    if as_json:
        typer.echo(json.dumps(_add_summary(result), indent=2))
        return
    m = result.manifest
    if result.status == "up-to-date":
        out.print(
            f"[bold cyan]{safe(result.name)}[/] is up to date: the {result.files:,} files of "
            f"{safe(m.source)} are unchanged since {safe(m.created_at)}; nothing to do (--force rebuilds it)",
            highlight=False,
        )
        return
    out.print(_counts_table(m))
    for line in notes(m):
        out.print(f"note: {safe(line)}", highlight=False)
    for line in warnings(m):
        out.print(f"[bold yellow]warning:[/] {safe(line)}", highlight=False)
    c, h, w = m.image_shape
    out.print(
        f"[bold cyan]{safe(result.name)}[/] {safe(result.status)}: {len(m.class_names):d} classes, "
        f"{safe(_counts_text(m))} images of {c:d}x{h:d}x{w:d}, from {result.files:,} files in "
        f"{result.seconds:.1f} s ({result.workers:d} process{'es' if result.workers != 1 else ''}) "
        f"-> {safe(result.folder)}",
        highlight=False,
    )


@app.command("remove")
@expected_errors
def remove(name: Annotated[str, typer.Argument(help="The folder dataset to remove.")]) -> None:
    """Remove a folder dataset (`zoo data add`); the built-in datasets are not removed this way."""
    folder = remove_folder_dataset(name)
    out.print(f"removed {safe(name)} ({safe(folder)})", highlight=False, soft_wrap=True)
