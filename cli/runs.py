"""`zoo runs`: unfinished runs (interrupted trainings that `zoo train --resume` continues)."""

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import err, expected_errors, out, safe
from cli.options import AsJson
from cli.render import on_dataset
from zoo.core.errors import UsageError, ZooError
from zoo.train.resume import RunInUse, clean_unfinished, list_unfinished, unfinished_root

app = typer.Typer(help="Unfinished runs: `zoo runs` lists them, `zoo runs clean` removes them.")


@app.callback(invoke_without_command=True)
@expected_errors
def runs_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Interrupted trainings that can be continued, with the command that continues each."""
    if ctx.invoked_subcommand is not None:
        return
    runs = list_unfinished()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in runs], indent=2))
        return
    if not runs:
        out.print(f"no unfinished runs under {safe(unfinished_root())}", highlight=False)
        return
    table = Table(title="unfinished runs")
    for column in ("model", "run", "epochs done", "updated", "continue with"):
        table.add_column(column, justify="right" if column == "epochs done" else "left", overflow="fold")
    for r in runs:
        updated = safe(r.updated.strftime("%Y-%m-%d %H:%M"))
        if r.damaged:  # listed, not fatal: its reason names `zoo runs clean NAME`
            table.add_row(safe(r.model), safe(r.name), "-", updated, f"[red]damaged:[/] {safe(r.damaged)}")
            continue
        table.add_row(
            safe(r.model) + on_dataset(r.model, r.dataset),
            safe(r.name),
            f"{r.epoch:d}/{r.epochs:d}",
            updated,
            f"zoo train {safe(r.model)} --resume-from {safe(r.folder)}",
        )
    out.print(table)


@app.command("clean")
@expected_errors
def runs_clean(
    names: Annotated[list[str] | None, typer.Argument(help="Run names (as `zoo runs` lists them).")] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Remove every unfinished run.")] = False,
) -> None:
    """Remove unfinished runs; their finished epochs are lost. Nothing is removed without being named."""
    runs = list_unfinished()
    if not names and not all_runs:
        raise UsageError("name the unfinished runs to remove (see `zoo runs`), or pass --all")
    chosen = runs if all_runs else [r for r in runs if r.name in set(names or [])]
    missing = sorted(set(names or []) - {r.name for r in chosen})
    if missing:
        raise UsageError(f"no unfinished run named {', '.join(missing)}; see `zoo runs`")
    in_use = []
    for r in chosen:
        try:
            clean_unfinished(r.folder)
        except RunInUse as busy:  # another process trains it: its epochs are not this command's to drop
            in_use.append(r.name)
            err.print(f"kept {safe(r.folder)}: {safe(busy)}", highlight=False, soft_wrap=True)
            continue
        out.print(f"removed {safe(r.folder)}", highlight=False)
    if in_use:
        raise ZooError(f"{len(in_use)} unfinished run(s) are in use and were kept: {', '.join(in_use)}")
