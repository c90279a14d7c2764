"""`zoo studies`: what the storage holds (zoo.tune.studies gathers it; this module renders it)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, out, safe
from cli.options import AsJson, Storage
from cli.render import fits, on_dataset, params_text
from zoo.tune.journal import repair_journal
from zoo.tune.studies import list_studies, load_study, open_storage, study_details

app = typer.Typer(
    help="List studies, show one, or repair a journal: `zoo studies`, `zoo studies show NAME`, "
    "`zoo studies repair FILE`.",
    invoke_without_command=True,
)


def _table(title: str, columns: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title=title)
    for column, justify in columns:
        # figures never wrap: a table too narrow for them is replaced, not squeezed
        table.add_column(column, justify=justify, no_wrap=justify == "right")
    return table


def _acc(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


@app.callback()
@expected_errors
def studies_list(ctx: typer.Context, storage: Storage = None, as_json: AsJson = False) -> None:
    """A table of studies: model, trials by state, best val acc, its test acc, last update."""
    if ctx.invoked_subcommand is not None:
        return
    rows = [r.to_dict() for r in list_studies(open_storage(storage, heartbeat=False))]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("no studies yet; run `zoo tune MODEL` to start one")
        return
    states = ("complete", "pruned", "fail", "running")
    table = _table(
        "studies",
        (
            ("study", "left"),
            ("model", "left"),
            *((s, "right") for s in states),
            ("best val acc", "right"),
            ("test acc", "right"),
            ("last update", "left"),
        ),
    )
    for r in rows:
        table.add_row(
            safe(r["name"]),
            _model(r),
            *(f"{r['trials'].get(s, 0):d}" for s in states),
            _acc(r["best_val_acc"]),
            _acc(r["test_acc"]),
            _when(r["last_update"]),
        )
    if fits(table, out):
        out.print(table)
        return
    for r in rows:  # an 80-column log: one wrapped line per study instead of nine cut columns
        trials = ", ".join(f"{r['trials'].get(s, 0):d} {s}" for s in states)
        out.print(
            f"[bold]{safe(r['name'])}[/] ({_model(r)}): {trials}; best val acc {_acc(r['best_val_acc'])}, "
            f"its test acc {_acc(r['test_acc'])}; updated {_when(r['last_update'])}",
            highlight=False,
        )


def _model(row: dict) -> str:
    """A study's model (safe: a storage is anyone's to write), whether it is an ablation, and the dataset
    of a dataset-agnostic variant's study: `cnn --dataset A` and `cnn --dataset B` are different studies."""
    kind = " ablation" if row["kind"] == "ablation" else ""
    return safe(row["model"] or "?") + kind + on_dataset(row["model"], row.get("dataset"))


def _when(iso: str | None) -> str:
    return safe((iso or "-").replace("T", " ")[:16])


@app.command("show")
@expected_errors
def studies_show(
    name: Annotated[str, typer.Argument(help="Study name.")], storage: Storage = None, as_json: AsJson = False
) -> None:
    """The trials of one study and Optuna's parameter importances."""
    details = study_details(load_study(name, open_storage(storage, heartbeat=False)))
    if as_json:
        typer.echo(json.dumps(details, indent=2, default=str))
        return
    ablation = details["study"]["kind"] == "ablation"
    value = "test acc" if ablation else "val acc"
    columns = (("#", "right"), ("state", "left"), (value, "right"), ("epochs", "right"))
    table = _table(
        f"study {safe(name)} ({_model(details['study'])})", (*columns, ("params", "left"), ("note", "left"))
    )
    for t in details["trials"]:
        attrs = t["user_attrs"]
        table.add_row(
            f"{t['number']:d}",
            safe(t["state"]),
            _acc(t["value"]),
            safe(t["epochs"] if t["epochs"] is not None else attrs.get("epochs_run", "-")),
            f"{safe(attrs.get('variant', '?'))}, seed {safe(attrs.get('seed', '?'))}"
            if ablation
            else params_text(t["params"]),
            safe(attrs.get("fail_reason", "")),
        )
    out.print(table)
    if details["importances"]:
        imp = _table("parameter importances (fANOVA)", (("parameter", "left"), ("importance", "right")))
        for key, importance in details["importances"].items():
            imp.add_row(safe(key), f"{importance:.3f}")
        out.print(imp)
    elif not ablation:  # an ablation's runs have no sampled parameters to rank
        out.print("parameter importances need at least 2 completed trials")
    final = details["final"]
    if final:
        out.print(
            f"final: trial {safe(final['trial'])} test acc [bold]{final['test_accuracy']:.4f}[/] "
            f"({safe(final['run_dir'])})",
            highlight=False,
        )


@app.command("repair")
@expected_errors
def studies_repair(
    journal: Annotated[Path, typer.Argument(help="The journal file (FILE of journal:FILE).")],
) -> None:
    """Drop the torn records of a journal file (a write cut short), keeping a backup of the original.

    Only an Optuna journal is repaired: anything else (an SQLite database, a binary or empty file, a folder)
    is refused, untouched."""
    backup, dropped = repair_journal(journal)
    if backup is None:
        out.print(
            f"{safe(journal)} has no torn record; it was left as it was", highlight=False, soft_wrap=True
        )
        return
    out.print(
        f"dropped {dropped:d} torn record(s) from {safe(journal)}; the original is kept as {safe(backup)}",
        highlight=False,
        soft_wrap=True,
    )
