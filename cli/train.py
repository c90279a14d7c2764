"""`zoo train NAME`: train one variant with live progress, then print its test report."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.console import err, expected_errors, out
from cli.render import classification_table, confusion_table
from zoo.config import parse_assignments
from zoo.registry import get_spec
from zoo.runs import RunResult, train_run


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
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the variant's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default: the variant's).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the variant's).")] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override any hyperparameter or training option: key=value (repeatable); "
            "tuples as comma lists, e.g. --set filters=32,64.",
        ),
    ] = None,
    subset: Annotated[
        int | None, typer.Option(help="Train on a stratified subset of N training images.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the split, init and batches.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with the dataset's official files (or $ZOO_DATA_DIR).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run record as JSON on stdout.")] = False,
) -> None:
    """Train a model variant on its dataset and save a run directory (weights + run.json)."""
    spec = get_spec(name)
    overrides = parse_assignments(spec, assignments or [])
    for key, value in (
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("lr", lr),
        ("subset", subset),
        ("seed", seed),
        ("device", device),
    ):
        if value is not None:
            overrides[key] = value

    result = _train_with_progress(name, overrides, data_dir, err if as_json else out)
    record = result.record
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.run_dir), **record.to_dict()}, indent=2))
        return
    test = record.metrics["test"]
    out.print(classification_table(test, title=f"{name}: test set ({test['n']} images)"))
    out.print(confusion_table(test["confusion_matrix"], record.class_names, title="confusion matrix (test)"))
    out.print(
        f"test accuracy [bold]{test['accuracy']:.4f}[/]  log loss {test['log_loss']:.4f}  "
        f"trained {record.train_seconds:.1f}s on {record.device}  ({record.num_params:,} parameters)"
    )
    out.print(f"run saved to [bold]{result.run_dir}[/]", highlight=False)


def _train_with_progress(name: str, overrides: dict, data_dir: Path | None, console) -> RunResult:
    """train_run with a bar for epochs and one for batches; each finished epoch printed above them."""
    with _progress(console) as progress:
        epochs_task = progress.add_task("epochs", total=None, info="loading data")
        batch_task = progress.add_task("batches", total=None, info="")

        def on_batch(step: int, steps: int, loss: float) -> None:
            progress.update(batch_task, completed=step, total=steps, info=f"loss {loss:.4f}")

        def on_epoch(s) -> None:
            val = f"  val loss {s.val_loss:.4f}  val acc {s.val_acc:.4f}" if s.val_acc is not None else ""
            progress.console.print(
                f"epoch {s.epoch:>3}/{s.epochs}  train loss {s.train_loss:.4f}  train acc {s.train_acc:.4f}"
                f"{val}  lr {s.lr:.2e}  {s.seconds:.1f}s",
                highlight=False,
            )
            progress.update(
                epochs_task,
                completed=s.epoch,
                total=s.epochs,
                info=f"val acc {s.val_acc:.4f}" if s.val_acc is not None else "",
            )
            progress.reset(batch_task, total=None, info="")

        return train_run(name, overrides, data_dir=data_dir, on_epoch=on_epoch, on_batch=on_batch)
