"""`zoo train NAME`: train one variant with live progress, then print its test report."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.console import err, expected_errors, interrupted_exit_code, out, safe
from cli.options import DataDir, Dataset, within
from cli.render import classification_table, print_confusion, with_flips
from zoo.core.errors import UsageError
from zoo.models.params import rule_for
from zoo.models.registry import budget_overrides, get_spec, resolve_dataset
from zoo.train.config import parse_assignments
from zoo.train.resume import newest_unfinished, read_request, unfinished_dir
from zoo.train.runs import RunResult, new_run_dir, resume_run, train_run

Assignments = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override any hyperparameter or training option: key=value (repeatable); "
        "tuples as comma lists, e.g. --set filters=32,64.",
    ),
]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the newest unfinished run of NAME.")]
ResumeFrom = Annotated[
    Path | None,
    typer.Option("--resume-from", help="Continue this unfinished run (a folder `zoo runs` lists)."),
]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@expected_errors
def train(
    name: Annotated[str, typer.Argument(help="A registered model, e.g. fashion-cnn (see `zoo models`).")],
    dataset: Dataset = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the variant's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default: the variant's).")] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="Learning rate (default: the variant's).", callback=within(rule_for("lr"))),
    ] = None,
    assignments: Assignments = None,
    subset: Annotated[
        int | None, typer.Option(help="Train on a stratified subset of N training images.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the split, init and batches.")] = None,
    budget: Annotated[
        str | None,
        typer.Option(help="A named training budget of NAME (`zoo models NAME`), e.g. published or short."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    resume: Resume = False,
    resume_from: ResumeFrom = None,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run record as JSON on stdout.")] = False,
) -> None:
    """Train a model variant and save a run directory (weights + run.json).

    Every epoch's state is kept until the run is saved, so an interrupted run continues with `--resume`."""
    spec = get_spec(name)
    overrides = {**budget_overrides(spec, budget), **parse_assignments(spec, assignments or [])}
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "subset": subset, "seed": seed}
    overrides |= {k: v for k, v in {**given, "device": device}.items() if v is not None}
    if resume or resume_from:
        # the run's own dataset, data folder and settings, as its request records them
        if overrides or data_dir or budget or dataset:
            raise UsageError("--resume continues a run as it was started; drop the other options")
        folder = resume_from or newest_unfinished(spec.name).folder
        if read_request(folder)["model"] != spec.name:
            raise UsageError(f"{folder} is an unfinished run of another model, not {spec.name}")

        def run(on_epoch, on_batch, on_budget):
            return resume_run(folder, on_epoch=on_epoch, on_batch=on_batch, on_budget=on_budget)

    else:
        dataset = resolve_dataset(spec, dataset)  # before the progress bars: one line, exit 2
        run_dir = new_run_dir(spec.name)
        folder = unfinished_dir(spec.name, run_dir.name)

        def run(on_epoch, on_batch, on_budget):
            return train_run(
                name,
                overrides,
                dataset=dataset,
                data_dir=data_dir,
                run_dir=run_dir,
                on_epoch=on_epoch,
                on_batch=on_batch,
                on_budget=on_budget,
                unfinished=folder,
            )

    try:
        result = _with_progress(run, err if as_json else out)
    except KeyboardInterrupt:
        again = f"zoo train {name}" + (f" --dataset {dataset}" if dataset and not spec.dataset else "")
        hint = f"zoo train {spec.name} --resume-from {folder}" if folder.exists() else again
        err.print(
            f"interrupted; finished epochs are kept: continue with `{safe(hint)}`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=interrupted_exit_code()) from None
    _report(result, as_json)


def _report(result: RunResult, as_json: bool) -> None:
    record = result.record
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.run_dir), **record.to_dict()}, indent=2))
        return
    test = record.metrics["test"]
    # a dataset-agnostic variant's report says which dataset it was trained for
    who = record.model if get_spec(record.model).dataset else f"{record.model} on {record.dataset}"
    out.print(classification_table(test, title=f"{safe(who)}: test set ({test['n']:d} images)"))
    print_confusion(out, test["confusion_matrix"], record.class_names, title="confusion matrix (test)")
    out.print(
        f"test accuracy [bold]{test['accuracy']:.4f}[/]{with_flips(record.train_config)}  "
        f"log loss {test['log_loss']:.4f}  "
        f"trained {record.train_seconds:.1f}s on {safe(record.device)}  ({record.num_params:,} parameters)"
    )
    out.print(f"run saved to [bold]{safe(result.run_dir)}[/]", highlight=False)


def _with_progress(run: Callable, console) -> RunResult:
    """`run(on_epoch, on_batch, on_budget)` with a bar for epochs and one for batches; the budget (epochs
    and why) and each epoch printed above."""
    with _progress(console) as progress:
        epochs_task = progress.add_task("epochs", total=None, info="loading data")
        batch_task = progress.add_task("batches", total=None, info="")

        def on_batch(step: int, steps: int, loss: float) -> None:
            progress.update(batch_task, completed=step, total=steps, info=f"loss {loss:.4f}")

        def on_epoch(s) -> None:
            val = f"  val loss {s.val_loss:.4f}  val acc {s.val_acc:.4f}" if s.val_acc is not None else ""
            progress.console.print(
                f"epoch {s.epoch:>3d}/{s.epochs:d}  train loss {s.train_loss:.4f}  "
                f"train acc {s.train_acc:.4f}{val}  lr {s.lr:.2e}  {s.seconds:.1f}s",
                highlight=False,
            )
            progress.update(
                epochs_task,
                completed=s.epoch,
                total=s.epochs,
                info=f"val acc {s.val_acc:.4f}" if s.val_acc is not None else "",
            )
            progress.reset(batch_task, total=None, info="")

        def on_budget(budget) -> None:
            progress.console.print(safe(budget.describe()), highlight=False)  # wrapped to the terminal

        return run(on_epoch, on_batch, on_budget)
