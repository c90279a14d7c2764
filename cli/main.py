"""The Typer app: global options and command registration. Each command lives in its own module."""

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

import zoo
from cli import ablate as ablate_commands
from cli import bench as bench_commands
from cli import compare as compare_commands
from cli import data as data_commands
from cli import export as export_commands
from cli import models as models_commands
from cli import predict as predict_commands
from cli import report as report_commands
from cli import runs as runs_commands
from cli import studies as studies_commands
from cli import train as train_commands
from cli import tune as tune_commands
from cli import weights as weights_commands
from cli.console import err, interrupted_exit_code, leave_after_stop, printable, stop_on_sigterm
from cli.crash import report_crash
from cli.streams import OutputFailed, exit_code, guard_streams
from zoo.core import paths, stop

app = typer.Typer(
    name="zoo",
    help="A model zoo for small image classifiers: train, tune, export and benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zoo {printable(zoo.__version__)}")
        raise typer.Exit()


@app.callback()
def main(
    artifacts: Annotated[
        Path | None,
        typer.Option(
            "--artifacts",
            help="Folder for studies, runs, models and reports (default ./artifacts, or $ZOO_ARTIFACTS).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    paths.set_artifacts_dir(artifacts)


app.command("models")(models_commands.models)
app.command("train")(train_commands.train)
app.command("tune")(tune_commands.tune_command)
app.command("export")(export_commands.export)
app.command("bench")(bench_commands.bench)
app.command("compare")(compare_commands.compare)
app.command("ablate")(ablate_commands.ablate)
app.command("predict")(predict_commands.predict)
app.command("report")(report_commands.report)
app.add_typer(studies_commands.app, name="studies")
app.add_typer(runs_commands.app, name="runs")
app.add_typer(data_commands.app, name="data")
app.add_typer(weights_commands.app, name="weights")


def run() -> None:
    """The `zoo` entry point, where every command's output failures and unexpected exceptions end: a
    ZooError is handled by the command (cli/console.py), typer's own errors and exits by typer. A stopped
    command ends whatever threads a library left running (cli.console.leave_after_stop)."""
    try:
        _run_command()
    except SystemExit as done:
        if stop.requested() is not None:
            leave_after_stop(done.code)
        raise


def _run_command() -> None:
    stop_on_sigterm()
    guard_streams()
    try:
        try:
            app()
        finally:
            sys.stdout.flush()  # what is still buffered fails here, where it is reported, not at exit
    except SystemExit as done:
        if done.code not in (0, None) or stop.requested() is None:
            raise
        # a stop whose KeyboardInterrupt a library swallowed, in a command that had nothing left to save:
        # it was still asked to stop, and says so as every interrupted command does
        _end_interrupted()
    except OutputFailed as failure:
        sys.exit(exit_code(failure))
    except KeyboardInterrupt:  # a stop that landed outside any command's own handling (typer's parsing)
        _end_interrupted()
    except Exception as exc:
        if stop.requested() is not None:
            # raised on the way out of a stop whose KeyboardInterrupt a library swallowed, leaving itself
            # broken (Optuna's "Should not reach"): the user's stop, not a bug to report; and a crash file
            # is a commit point that refuses to save once a stop was asked (zoo/core/stop.py)
            _end_interrupted()
        sys.exit(report_crash(exc))


def _end_interrupted() -> NoReturn:
    """How a command the user stopped ends when its own handling did not say so: one line, 128 + signal."""
    err.print("interrupted", highlight=False)
    sys.exit(interrupted_exit_code())
