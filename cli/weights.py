"""`zoo weights list|pull|verify`: the shipped, hash-pinned weights of the registry's variants."""

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.table import Table

from cli.console import err, expected_errors, fail, out, safe
from zoo.weights import store as pretrained

app = typer.Typer(
    help="Shipped weights: list them, fetch them, re-measure their figures.", no_args_is_help=True
)

PatternArg = Annotated[
    str | None, typer.Argument(help="A variant or a shell-style filter, e.g. 'fashion-*'.")
]


@app.command("list")
@expected_errors
def list_command(
    pattern: PatternArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Which variants ship weights, their figure, size and where they are on this machine."""
    rows = pretrained.list_weights(pattern)
    if as_json:
        typer.echo(json.dumps([_as_dict(r) for r in rows], indent=2))
        return
    table = Table(title="zoo weights")
    table.add_column("model", style="bold cyan", no_wrap=True)
    table.add_column("test acc", justify="right")
    table.add_column("size", justify="right")
    table.add_column("sha256", no_wrap=True)
    table.add_column("here")
    missing: dict[str, list[str]] = {}
    for row in rows:
        if row.weights is None:
            missing.setdefault(row.reason or "", []).append(row.name)
            continue
        w = row.weights
        here = safe(row.where) if row.where else "[yellow]not here: zoo weights pull[/]"
        size = f"{w.size / 2**20:.2f} MiB"
        flips = f" ({w.tta_accuracy:.2%} with flips)" if w.tta_accuracy is not None else ""
        table.add_row(safe(row.name), f"{w.test_accuracy:.2%}{flips}", size, safe(w.tag), here)
    if table.row_count:
        out.print(table)
    for reason, names in missing.items():
        out.print(f"[dim]no weights for {safe(', '.join(names))}: {safe(reason)}[/]")


def _as_dict(row: pretrained.Listing) -> dict:
    weights = None
    if row.weights is not None:
        w = row.weights
        weights = {
            "sha256": w.sha256,
            "size": w.size,
            "correct": w.correct,
            "n": w.n,
            "top1": w.test_accuracy,
            "correct_tta": w.correct_tta,
            "top1_tta": w.tta_accuracy,
        }
    return {
        "name": row.name,
        "dataset": row.dataset,
        "weights": weights,
        "where": row.where,
        "reason": row.reason,
    }


@app.command("pull")
@expected_errors
def pull_command(
    names: Annotated[list[str], typer.Argument(help="Variants whose weights to fetch.")],
) -> None:
    """Make sure the weights are on this machine: the package's copy, else a download from $ZOO_WEIGHTS_URL
    into the cache ($ZOO_HOME), hash-checked before it is used."""
    for name in names:  # every name, and the mirror's URL, are checked before anything is fetched
        pretrained.shipped_weights(name)
    pretrained.mirror_url()
    # a bar only where someone watches it, gone once done: a failed download leaves its one error line
    bar = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*bar, console=err, transient=True, disable=not err.is_terminal) as progress:
        tasks: dict[str, int] = {}

        def on_progress(file: str, done: int, total: int | None) -> None:
            if file not in tasks:
                tasks[file] = progress.add_task(safe(file), total=total)
            progress.update(tasks[file], completed=done, total=total)

        for name in names:
            located = pretrained.pull(name, on_progress=on_progress)
            progress.console.print(f"{safe(name)}: {safe(located.source)} {safe(located.folder)}")


@app.command("verify")
@expected_errors
def verify_command(
    pattern: PatternArg = None,
    data_dir: Annotated[str | None, typer.Option(help="Folder with the dataset's official files.")] = None,
) -> None:
    """Evaluate shipped weights on the official test split and compare with the registry's figure: the
    number of correct predictions must match exactly (CPU, fp32)."""
    failed = []
    for row in pretrained.list_weights(pattern):
        if row.weights is None:
            continue
        for tta in (False, True) if row.weights.correct_tta else (False,):
            if not _verified(row.name, pretrained.verify(row.name, data_dir=data_dir, tta=tta), tta):
                failed.append(row.name)
    if failed:
        fail(f"{len(set(failed)):d} shipped model(s) do not re-measure their recorded figure", 1)


def _verified(name: str, result: pretrained.Verification, tta: bool) -> bool:
    """One line for one figure of one shipped model; whether it re-measured."""
    if result.exact:
        mark = "[green]exact[/]"
    elif result.ok:
        mark = f"[yellow]within the {result.near_ties:d} near ties another CPU may decide otherwise[/]"
    else:
        mark = "[bold red]MISMATCH[/]"
    out.print(
        f"{safe(name)}{' with flips' if tta else ''}: {result.correct:,}/{result.n:,} correct "
        f"({result.accuracy:.2%}), registry {result.expected:,}: {mark} ({result.near_ties:d} near ties)",
        highlight=False,
    )
    return result.ok
