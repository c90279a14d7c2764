"""`zoo models [PATTERN]`: the registry as a table."""

import dataclasses
import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, out
from cli.render import fits_wrapped
from zoo.registry import count_parameters, create_model, get_spec, list_models, search_space_params


def _settings(items: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in items.items())


def _defaults_text(spec) -> str:
    text = _settings({**spec.hparams, **spec.train})
    for name, overrides in spec.budgets.items():
        text += f"; --budget {name}: " + _settings(overrides)
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
    table = _wide_table(rows)
    if fits_wrapped(table, out):
        out.print(table)
        return
    for row in rows:  # too narrow for one row per model (an 80-column log): one block per model
        out.print(_model_block(row))


def _wide_table(rows: list[dict]) -> Table:
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
    return table


def _model_block(row: dict) -> Table:
    spec = get_spec(row["name"])
    block = Table(title=row["name"], title_justify="left", show_header=False, expand=True)
    block.add_column("field", style="dim", no_wrap=True)
    block.add_column("value", overflow="fold")
    block.add_row("dataset", f"{row['dataset']} ({row['family']}, {row['num_params']:,} parameters)")
    block.add_row("architecture", _settings(spec.hparams))
    block.add_row("training", _settings(spec.train))
    for name, overrides in spec.budgets.items():
        block.add_row(f"--budget {name}", _settings(overrides))
    block.add_row("search space", ", ".join(row["search_space"]))
    block.add_row("recorded", spec.recorded.summary() if spec.recorded else "-")
    block.add_row("provenance", row["provenance"])
    return block
