"""`zoo models [PATTERN]`: the registry as a table."""

import dataclasses
import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, out
from zoo.registry import count_parameters, create_model, get_spec, list_models, search_space_params


def _defaults_text(spec) -> str:
    items = {**spec.hparams, **spec.train}
    text = ", ".join(f"{k}={_fmt(v)}" for k, v in items.items())
    for name, overrides in spec.budgets.items():
        text += f"; --budget {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in overrides.items())
    return text


def _fmt(value) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@expected_errors
def models(
    pattern: Annotated[str | None, typer.Argument(help="Shell-style filter, e.g. 'fashion-*'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the registered model variants."""
    rows = []
    for name in list_models(pattern):
        spec = get_spec(name)
        rows.append(
            {
                "name": name,
                "family": spec.family,
                "dataset": spec.dataset,
                "num_params": count_parameters(create_model(name)),
                "hyperparameters": spec.hparams,
                "train": spec.train,
                "budgets": spec.budgets,
                "search_space": sorted(search_space_params(spec)),
                "provenance": spec.provenance,
                "recorded": dataclasses.asdict(spec.recorded) if spec.recorded else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print(f"no model matches {pattern!r}; run `zoo models` to list them all")
        raise typer.Exit(code=1)
    table = Table(title="zoo models")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("dataset")
    table.add_column("params", justify="right")
    table.add_column("defaults", ratio=3)
    table.add_column("search", justify="right")
    table.add_column("recorded test accuracy", ratio=2)
    table.add_column("provenance", ratio=3)
    for row in rows:
        spec = get_spec(row["name"])
        table.add_row(
            row["name"],
            row["dataset"],
            f"{row['num_params']:,}",
            _defaults_text(spec),
            f"{len(row['search_space'])} params",
            spec.recorded.summary() if spec.recorded else "-",
            row["provenance"],
        )
    out.print(table)
