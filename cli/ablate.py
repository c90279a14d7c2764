"""`zoo ablate NAME --factor key=v1,v2 ... [--preset classic]`: one-factor ablation table."""

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, key_value_pairs, out
from cli.options import AsJson, DataDir, Storage
from zoo.ablate import AblateConfig
from zoo.ablate import ablate as run_ablation

Factor = Annotated[
    list[str] | None,
    typer.Option(help="key=v1,v2: one variant per value (repeatable); tuple knobs separate values with '/'."),
]
Preset = Annotated[str | None, typer.Option(help="A named study: `classic` for fashion-cnn (21 variants).")]
Budget = Annotated[
    str | None,
    typer.Option(
        help="A named training budget of the model: `published` (the study's own: early stopping, long) or "
        "`short` (a few epochs: conclusions about short schedules). Default: the model's recipe."
    ),
]
Only = Annotated[
    str | None,
    typer.Option(help="Comma-separated variant labels to run (the base always runs), e.g. 'dropout 0.0'."),
]
Epochs = Annotated[int | None, typer.Option(help="Epochs per run (default: the variant's).")]
Seeds = Annotated[int, typer.Option(help="Seeds per variant (mean ± std).")]
Subset = Annotated[int | None, typer.Option(help="Train on a stratified subset of N images.")]
StudyName = Annotated[str | None, typer.Option(help="Study name (default ablate-NAME[-PRESET]).")]


def _pm(value) -> str:
    return "-" if value is None else f"{value[0]:.4f} ± {value[1]:.4f}"


@expected_errors
def ablate(
    name: Annotated[str, typer.Argument(help="A registered model, e.g. fashion-cnn.")],
    factor: Factor = None,
    preset: Preset = None,
    budget: Budget = None,
    only: Only = None,
    epochs: Epochs = None,
    seeds: Seeds = 3,
    subset: Subset = None,
    study: StudyName = None,
    storage: Storage = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Train the base configuration and one-factor variants, K seeds each; resumable."""
    cfg = AblateConfig(
        model=name,
        factors=key_value_pairs(factor, "--factor"),
        preset=preset,
        budget=budget,
        only=tuple(label.strip() for label in (only or "").split(",") if label.strip()),
        epochs=epochs,
        seeds=seeds,
        subset=subset,
        study=study,
        storage=storage,
        data_dir=str(data_dir) if data_dir else None,
    )
    with out.status("ablating") as status:
        result = run_ablation(cfg, on_run=lambda label, seed: status.update(f"{label} (seed {seed})"))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    out.print(_table(result, f"ablation of {name} ({result['study']})"))
    out.print(_budget_line(result["budget"]), highlight=False)
    out.print(f"saved to [bold]{result['saved_to']}[/]", highlight=False)


def _budget_line(budget: dict) -> str:
    recipe = budget["recipe"]
    stopping = (
        f"early stopping on validation loss, patience {recipe['patience']}"
        if recipe["patience"]
        else "no early stopping"
    )
    return (
        f"budget: {budget['name']}: {recipe['optimizer']} lr {recipe['lr']:g} "
        f"({recipe['schedule']} schedule), at most {recipe['epochs']} epochs, {stopping}; "
        "'epochs' is what each run trained"
    )


def _table(result: dict, title: str) -> Table:
    table = Table(title=title)
    columns = (
        "variant",
        "seeds",
        "train acc",
        "test acc",
        "train log loss",
        "test log loss",
        "params",
        "epochs",
        "s",
    )
    for column in columns:
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
            f"{r['epochs_run'][0]:.0f}" if r.get("epochs_run") else "-",
            f"{r['seconds'][0]:.1f}" if r["seconds"] else "-",
        )
    return table
