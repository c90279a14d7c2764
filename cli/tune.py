"""`zoo tune NAME`: an Optuna study with a live view (zoo.tune runs it; this module renders it)."""

import json
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.console import err, expected_errors, interrupted_exit_code, key_value_pairs, out
from cli.options import AsJson, Assignments, DataDir, Storage
from cli.render import classification_table, params_text
from zoo.studies import open_storage
from zoo.tune import TuneCallbacks, TuneConfig, TuneResult, check_config, tune

RECENT = 8


class TuneView:
    """The live view: progress line, the running trial, recent trials and the best so far."""

    def __init__(self, study_name: str, total: int, log: Callable[[str], None] | None = None):
        # `log`: where a log or a pipe gets one line per event instead of the live view, which a
        # non-terminal would only show once, at the end.
        self.study_name, self.total, self.log = study_name, total, log
        self.done = 0
        self.current = ""
        self.rows: list[tuple] = []
        self.best: tuple[int, float] | None = None
        self.started = time.perf_counter()
        self.trial_started = time.perf_counter()

    def trial_started_cb(self, number: int, params: dict) -> None:
        self.trial_started = time.perf_counter()
        self.current = f"trial {number}: starting  {params_text(params)}"

    def epoch_done(self, number: int, stats) -> None:
        self.current = (
            f"trial {number}: epoch {stats.epoch}/{stats.epochs}  val acc {stats.val_acc:.4f}  "
            f"train loss {stats.train_loss:.4f}"
        )

    def trial_done(self, study, trial) -> None:
        self.done += 1
        seconds = (
            (trial.datetime_complete - trial.datetime_start).total_seconds() if trial.datetime_complete else 0
        )
        reason = trial.user_attrs.get("fail_reason", "")
        self.rows.append(
            (trial.number, trial.state.name.lower(), params_text(trial.params), trial.value, seconds, reason)
        )
        if (
            trial.value is not None
            and trial.state.name == "COMPLETE"
            and (self.best is None or trial.value > self.best[1])
        ):
            self.best = (trial.number, trial.value)
        self.current = ""
        if self.log:
            value = f"val acc {trial.value:.4f}" if trial.value is not None else "no value"
            best = f"best trial {self.best[0]} ({self.best[1]:.4f})" if self.best else "no best yet"
            self.log(
                f"trial {trial.number} {trial.state.name.lower()} [{self.done}/{self.total}]: {value}, "
                f"{seconds:.0f} s; {best}; {params_text(trial.params)}" + (f"; {reason}" if reason else "")
            )

    def retrain_started(self, trial) -> None:
        self.current = f"retraining trial {trial.number}'s configuration on the full training split"
        if self.log:
            self.log(self.current)

    def __rich__(self) -> Group:
        elapsed = time.perf_counter() - self.started
        best = f"best: trial {self.best[0]} val acc {self.best[1]:.4f}" if self.best else "best: -"
        head = Text.assemble(
            (f"study {self.study_name}  ", "bold"),
            f"trials {self.done}/{self.total}  ",
            f"{elapsed:.0f}s  ",
            (best, "green"),
        )
        table = Table(title="recent trials", title_justify="left", expand=False)
        table.add_column("#", justify="right")
        table.add_column("state")
        table.add_column("params", overflow="fold", max_width=70)
        table.add_column("val acc", justify="right")
        table.add_column("s", justify="right")
        for number, state, params, value, seconds, reason in self.rows[-RECENT:]:
            style = {"complete": "green", "pruned": "yellow", "fail": "red"}.get(state, "")
            table.add_row(
                str(number),
                f"[{style}]{state}[/]",
                params + (f"  [dim]{reason}[/]" if reason else ""),
                f"{value:.4f}" if value is not None else "-",
                f"{seconds:.0f}",
            )
        return Group(head, Text(self.current, style="cyan"), table)


Trials = Annotated[int, typer.Option(help="Trials to run now (added to the study's).")]
Timeout = Annotated[float | None, typer.Option(help="Stop starting trials after S seconds.")]
StudyName = Annotated[str | None, typer.Option(help="Study name (default: the model name).")]
Sampler = Annotated[
    str | None, typer.Option(help="tpe, random, grid, gp or cmaes (default tpe; grid with --grid).")
]
Pruner = Annotated[str, typer.Option(help="hyperband, median or none.")]
Epochs = Annotated[int, typer.Option(help="Epochs per trial while tuning.")]
Subset = Annotated[
    int | None, typer.Option(help="Training images per trial while tuning (stratified); 0 = all.")
]
Seed = Annotated[int, typer.Option(help="Seed for the sampler, the split and training.")]
Grid = Annotated[
    list[str] | None, typer.Option("--grid", help="Grid axis key=v1,v2 (repeatable); implies --sampler grid.")
]
Keep = Annotated[int, typer.Option(help="Keep the weights of the best K trials.")]
Retrain = Annotated[
    bool, typer.Option(help="Retrain the best configuration on the full training split before testing.")
]
RetrainEpochs = Annotated[
    int | None,
    typer.Option(
        help="Epochs for that retraining; default: the winner's own where the search tunes epochs, else 15."
    ),
]


@expected_errors
def tune_command(
    name: Annotated[str, typer.Argument(help="A registered model, e.g. fashion-cnn.")],
    trials: Trials = 30,
    timeout: Timeout = None,
    study: StudyName = None,
    storage: Storage = None,
    sampler: Sampler = None,
    pruner: Pruner = "hyperband",
    epochs: Epochs = TuneConfig.epochs,
    subset: Subset = TuneConfig.subset,
    seed: Seed = 0,
    assignments: Assignments = None,
    grid: Grid = None,
    keep: Keep = TuneConfig.keep,
    retrain: Retrain = True,
    retrain_epochs: RetrainEpochs = TuneConfig.retrain_epochs,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Tune a model variant with Optuna; running the same command again resumes the study."""
    cfg = TuneConfig(
        model=name,
        trials=trials,
        timeout=timeout,
        study=study,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        epochs=epochs,
        subset=subset or None,
        seed=seed,
        fixed=key_value_pairs(assignments, "--set"),
        grid=key_value_pairs(grid, "--grid"),
        keep=keep,
        retrain=retrain,
        retrain_epochs=retrain_epochs,
        data_dir=str(data_dir) if data_dir else None,
    )
    # Before the live table starts: a bad value or an unusable storage is one line, not a table and a line.
    check_config(cfg)
    open_storage(cfg.storage, heartbeat=False)
    result = _run_live(cfg, err if as_json else out)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    _print_result(result, cfg)


def _run_live(cfg: TuneConfig, console) -> TuneResult:
    plain = not console.is_terminal
    view = TuneView(
        cfg.study_name,
        cfg.trials,
        log=(lambda line: console.print(line, highlight=False)) if plain else None,
    )
    callbacks = TuneCallbacks(
        trial_started=view.trial_started_cb,
        epoch_done=view.epoch_done,
        trial_done=view.trial_done,
        retrain_started=view.retrain_started,
    )
    try:
        if plain:
            return tune(cfg, callbacks)
        with Live(view, console=console, refresh_per_second=4, transient=False):
            return tune(cfg, callbacks)
    except KeyboardInterrupt:
        err.print(f"interrupted: study {cfg.study_name!r} is intact; run the same command to resume it")
        raise typer.Exit(code=interrupted_exit_code()) from None


def _print_result(result: TuneResult, cfg: TuneConfig) -> None:
    if result.best is None:
        out.print("no trial completed; see the failure reasons above")
        raise typer.Exit(code=1)
    test = result.final.record.metrics["test"]
    out.print(
        f"best trial {result.best.number}: val acc [bold]{result.best.value:.4f}[/]  "
        f"{params_text(result.best.params)}",
        highlight=False,
    )
    retrained = ", retrained" if cfg.retrain else ""
    title = f"{cfg.model} (study {cfg.study_name}, trial {result.best.number}{retrained}): test set"
    out.print(classification_table(test, title=title))
    out.print(
        f"test accuracy [bold]{test['accuracy']:.4f}[/]; run saved to [bold]{result.final.run_dir}[/]",
        highlight=False,
    )
