"""`zoo models [PATTERN]`: the registry as a table."""

import dataclasses
import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, out, safe
from cli.render import fits_wrapped
from zoo.models.registry import (
    ANY_DATASET,
    count_parameters,
    create_model,
    get_spec,
    list_models,
    search_space_params,
)
from zoo.weights.shipped import weights_of


def _settings(items: dict) -> str:
    return safe(", ".join(f"{k}={_fmt(v)}" for k, v in items.items()))


def _defaults_text(spec) -> str:
    text = _settings({**spec.hparams, **spec.train})
    for name, overrides in spec.budgets.items():
        text += f"; --budget {safe(name)}: " + _settings(overrides)
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
                "dataset": spec.dataset or ANY_DATASET,
                # a dataset-agnostic variant's count depends on the dataset's shape and classes
                "num_params": count_parameters(create_model(name)) if spec.dataset else None,
                "hyperparameters": spec.hparams,
                "train": spec.train,
                "budgets": spec.budgets,
                "search_space": sorted(search_space_params(spec)),
                "provenance": spec.provenance,
                "recorded": dataclasses.asdict(spec.recorded) if spec.recorded else None,
                "weights": dataclasses.asdict(weights_of(spec.name)) if weights_of(spec.name) else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print(f"no model matches {safe(repr(pattern))}; run `zoo models` to list them all")
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
    table.add_column("test accuracy", ratio=2)
    table.add_column("provenance", ratio=3)
    for row in rows:
        spec = get_spec(row["name"])
        table.add_row(
            safe(row["name"]),
            safe(row["dataset"]),
            _params(row),
            _defaults_text(spec),
            f"{len(row['search_space'])} params",
            _recorded(spec),
            safe(row["provenance"]),
        )
    return table


def _model_block(row: dict) -> Table:
    spec = get_spec(row["name"])
    block = Table(title=safe(row["name"]), title_justify="left", show_header=False, expand=True)
    block.add_column("field", style="dim", no_wrap=True)
    block.add_column("value", overflow="fold")
    count = "parameters per dataset" if row["num_params"] is None else f"{row['num_params']:,} parameters"
    dataset = f"{safe(row['dataset'])} ({safe(row['family'])}, {count})"
    block.add_row("dataset", dataset)
    block.add_row("architecture", _settings(spec.hparams))
    block.add_row("training", _settings(spec.train))
    for name, overrides in spec.budgets.items():
        block.add_row(f"--budget {safe(name)}", _settings(overrides))
    block.add_row("search space", safe(", ".join(row["search_space"])))
    block.add_row("recorded", _recorded(spec))
    block.add_row("provenance", safe(row["provenance"]))
    return block


def _params(row: dict) -> str:
    return "per dataset" if row["num_params"] is None else f"{row['num_params']:,}"


def _recorded(spec) -> str:
    """The shipped model's figure first (`zoo weights verify` re-measures it), then the recorded
    multi-seed figure where one was measured."""
    parts = []
    w = weights_of(spec.name)
    if w:
        flips = f", {w.tta_accuracy:.2%} with flips (--tta)" if w.tta_accuracy is not None else ""
        parts.append(f"shipped {w.test_accuracy:.2%}{flips} (seed 0, {w.size / 2**20:.1f} MiB)")
    if spec.recorded:
        parts.append(safe(spec.recorded.summary()))
    return "; ".join(parts) or "-"
