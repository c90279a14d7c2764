"""`zoo ablate NAME --factor key=v1,v2 ... [--preset classic]`: one-factor ablation table."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, key_value_pairs, out
from zoo.ablate import AblateConfig
from zoo.ablate import ablate as run_ablation
from zoo.fileio import write_json_atomic
from zoo.paths import artifacts_dir


def _pm(value) -> str:
    return "-" if value is None else f"{value[0]:.4f} ± {value[1]:.4f}"


@expected_errors
def ablate(
    name: Annotated[str, typer.Argument(help="A registered model, e.g. fashion-cnn.")],
    factor: Annotated[
        list[str] | None,
        typer.Option(
            help="key=v1,v2: one variant per value (repeatable); tuple knobs separate values with '/'."
        ),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="A named study: `classic` for fashion-cnn (21 variants).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs per run (default: the variant's).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per variant (mean ± std).")] = 3,
    subset: Annotated[int | None, typer.Option(help="Train on a stratified subset of N images.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default ablate-NAME[-PRESET]).")] = None,
    storage: Annotated[str | None, typer.Option(help="Storage URL (default artifacts/zoo.db).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Train the base configuration and one-factor variants, K seeds each; resumable."""
    cfg = AblateConfig(
        model=name,
        factors=key_value_pairs(factor, "--factor"),
        preset=preset,
        epochs=epochs,
        seeds=seeds,
        subset=subset,
        study=study,
        storage=storage,
        data_dir=str(data_dir) if data_dir else None,
    )
    with out.status("ablating") as status:
        result = run_ablation(cfg, on_run=lambda label, seed: status.update(f"{label} (seed {seed})"))
    path = artifacts_dir() / "ablations" / f"{result['study']}.json"
    write_json_atomic(path, result)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"ablation of {name} ({result['study']})")
    for column in (
        "variant",
        "seeds",
        "train acc",
        "test acc",
        "train log loss",
        "test log loss",
        "params",
        "s",
    ):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in result["rows"]:
        table.add_row(
            r["variant"],
            f"{r['seeds']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
            _pm(r["train_acc"]),
            _pm(r["test_acc"]),
            _pm(r["train_loss"]),
            _pm(r["test_loss"]),
            f"{r['num_params']:,}" if r["num_params"] else "-",
            f"{r['seconds'][0]:.1f}" if r["seconds"] else "-",
        )
    out.print(table)
    out.print(f"saved to [bold]{path}[/]", highlight=False)
