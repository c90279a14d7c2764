"""`zoo ablate NAME --factor key=v1,v2 ... [--preset classic]`: one-factor ablation table."""

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, fail, key_value_pairs, out, safe
from cli.options import AsJson, DataDir, Dataset, Storage
from cli.render import fits
from zoo.tune.ablate import AblateConfig
from zoo.tune.ablate import ablate as run_ablation

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
StudyName = Annotated[
    str | None,
    typer.Option(
        help="Study name (default ablate-NAME[-DATASET][-PRESET]; DATASET for a dataset-agnostic model)."
    ),
]


def _pm(value, scale: float = 1.0, digits: int = 4) -> str:
    return "-" if value is None else f"{value[0] * scale:.{digits}f} ± {value[1] * scale:.{digits}f}"


def _delta(row: dict, base: dict | None) -> str:
    """Test accuracy against the base row's, in points: the figure an ablation is read for."""
    if base is None or row is base or row["test_acc"] is None or base["test_acc"] is None:
        return ""
    return f"{(row['test_acc'][0] - base['test_acc'][0]) * 100:+.2f}"


@expected_errors
def ablate(
    name: Annotated[str, typer.Argument(help="A registered model, e.g. fashion-cnn.")],
    dataset: Dataset = None,
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
        dataset=dataset,
    )
    with out.status("ablating") as status:
        result = run_ablation(cfg, on_run=lambda label, seed: status.update(f"{safe(label)} (seed {seed:d})"))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        _exit_if_runs_failed(result)
        return
    for table in _tables(result, f"ablation of {safe(name)} ({safe(result['study'])})"):
        out.print(table)
    out.print(_budget_line(result["budget"]), highlight=False)
    out.print(f"saved to [bold]{safe(result['saved_to'])}[/]", highlight=False)
    _exit_if_runs_failed(result)


def _exit_if_runs_failed(result: dict) -> None:
    """A table with holes is printed, then the command fails: scripts must not take it for a full one."""
    failed = [r for r in result["rows"] if r["failed"]]
    if failed:
        first = next((r for r in failed if r.get("fail_reason")), failed[0])
        count = sum(r["failed"] for r in failed)
        reason = first.get("fail_reason") or "see zoo studies show"
        fail(
            f"{count} run(s) failed ({first['variant']}: {reason}); run the same command again to retry them",
            1,
        )


def _budget_line(budget: dict) -> str:
    recipe = budget["recipe"]
    stopping = (
        f"early stopping on validation loss, patience {recipe['patience']:d}"
        if recipe["patience"]
        else "no early stopping"
    )
    return (
        f"budget: {safe(budget['name'])}: {safe(recipe['optimizer'])} lr {recipe['lr']:g} "
        f"({safe(recipe['schedule'])} schedule), at most {recipe['epochs']:d} epochs, {stopping}; "
        "'epochs' is what each run trained"
    )


def _tables(result: dict, title: str) -> list[Table]:
    """One table where it fits; in an 80-column log, accuracy (in %) and cost as two tables whose
    figures all show in full."""
    rows = result["rows"]
    base = next((r for r in rows if r["variant"] == "base"), None)
    columns = {
        "seeds": lambda r: f"{r['seeds']:d}" + (f" ({r['failed']:d} failed)" if r["failed"] else ""),
        "train acc": lambda r: _pm(r["train_acc"]),
        "test acc": lambda r: _pm(r["test_acc"]),
        "Δ test (points)": lambda r: _delta(r, base),
        "train log loss": lambda r: _pm(r["train_loss"]),
        "test log loss": lambda r: _pm(r["test_loss"]),
        "params": lambda r: f"{r['num_params']:,}" if r["num_params"] else "-",
        "epochs": lambda r: f"{r['epochs_run'][0]:.0f}" if r.get("epochs_run") else "-",
        "s": lambda r: f"{r['seconds'][0]:.1f}" if r["seconds"] else "-",
    }
    wide = _table(title, rows, columns)
    if fits(wide, out):
        return [wide]
    accuracy = {
        "seeds": columns["seeds"],
        "train acc %": lambda r: _pm(r["train_acc"], 100, 2),
        "test acc %": lambda r: _pm(r["test_acc"], 100, 2),
        "Δ test": columns["Δ test (points)"],
    }
    cost = {
        "train loss": lambda r: _pm(r["train_loss"], digits=3),
        "test loss": lambda r: _pm(r["test_loss"], digits=3),
        **{key: columns[key] for key in ("params", "epochs", "s")},
    }
    return [_table(title, rows, accuracy), _table("log loss and cost", rows, cost)]


def _table(title: str, rows: list[dict], columns: dict) -> Table:
    table = Table(title=title)
    table.add_column("variant")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(safe(r["variant"]), *(cell(r) for cell in columns.values()))
    return table
