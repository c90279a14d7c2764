"""`zoo tune NAME`: an Optuna study with a live view (zoo.tune.tuning runs it; this module renders it)."""

import json
import time
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.console import (
    err,
    expected_errors,
    fail,
    interrupted_exit_code,
    key_value_pairs,
    out,
    printable,
    safe,
)
from cli.options import AsJson, Assignments, DataDir, Dataset, Storage, within
from cli.render import classification_table, params_text, with_flips
from zoo.core.errors import UsageError
from zoo.models.params import Rule
from zoo.tune.studies import best_trial, open_storage
from zoo.tune.time_budget import MAX_TIME_BUDGET, parse_duration
from zoo.tune.tuning import TuneCallbacks, TuneConfig, TuneResult, check_config, check_study_owner, tune

RECENT = 8


class TuneView:
    """The live view: progress line, the running trial, recent trials and the best so far. Its text is
    safe (`cli.console.safe`) as it is made: trial parameters and failure reasons come from a storage."""

    def __init__(self, study_name: str, total: int, log: Console | None = None):
        # `log`: where a log or a pipe gets one line per event instead of the live view, which a
        # non-terminal would only show once, at the end.
        self.study_name, self.total, self.log = study_name, total, log
        self.done = 0
        self.current = ""
        self.rows: list[tuple[str, str, str, str, str, str]] = []  # the cells of the recent trials
        self.best: tuple[int, float] | None = None
        self.started = time.perf_counter()
        self.trial_started = time.perf_counter()

    def trial_started_cb(self, number: int, params: dict) -> None:
        self.trial_started = time.perf_counter()
        self.current = f"trial {number:d}: starting  {params_text(params)}"

    def epoch_done(self, number: int, stats) -> None:
        self.current = (
            f"trial {number:d}: epoch {stats.epoch:d}/{stats.epochs:d}  val acc {stats.val_acc:.4f}  "
            f"train loss {stats.train_loss:.4f}"
        )

    def trial_done(self, study, trial) -> None:
        self.done += 1
        seconds = (
            (trial.datetime_complete - trial.datetime_start).total_seconds() if trial.datetime_complete else 0
        )
        state, reason = safe(trial.state.name.lower()), safe(trial.user_attrs.get("fail_reason", ""))
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        params = params_text(trial.params)
        self.rows.append((f"{trial.number:d}", state, params, value, f"{seconds:.0f}", reason))
        self.study_best(study)
        self.current = ""
        if self.log:
            best = f"best trial {self.best[0]:d} ({self.best[1]:.4f})" if self.best else "no best yet"
            score = f"val acc {value}" if trial.value is not None else "no value"
            self.log.print(
                f"trial {trial.number:d} {state} [{self.done:d}/{self.total:d}]: {score}, {seconds:.0f} s; "
                f"{best}; {params}" + (f"; {reason}" if reason else ""),
                highlight=False,
            )

    def study_best(self, study) -> None:
        """The best of the whole study, earlier calls' and other workers' trials too: what is retrained."""
        best = best_trial(study)
        self.best = (best.number, best.value) if best is not None else None

    def retrain_started(self, trial) -> None:
        self._final(
            f"retraining trial {trial.number:d}'s configuration (the study's best, val acc "
            f"{trial.value:.4f}) on the full training split"
        )

    def test_started(self, trial) -> None:
        self._final(
            f"testing trial {trial.number:d}'s own run (the study's best, val acc {trial.value:.4f}) on the "
            "test set; no retraining"
        )

    def _final(self, text: str) -> None:
        self.current = text
        if self.log:
            self.log.print(self.current, highlight=False)

    def __rich__(self) -> Group:
        elapsed = time.perf_counter() - self.started
        best = f"best: trial {self.best[0]:d} val acc {self.best[1]:.4f}" if self.best else "best: -"
        head = Text.assemble(
            (f"study {printable(self.study_name)}  ", "bold"),
            f"trials {self.done:d}/{self.total:d}  ",
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
                number,
                f"[{style}]{state}[/]" if style else state,
                params + (f"  [dim]{reason}[/]" if reason else ""),
                value,
                seconds,
            )
        return Group(head, f"[cyan]{self.current}[/]", table)


Trials = Annotated[int, typer.Option(help="Trials to run now (added to the study's).")]
Timeout = Annotated[
    float | None,
    typer.Option(
        help="Stop starting trials after S seconds.",
        callback=within(Rule(float, low=0, low_open=True, high=MAX_TIME_BUDGET)),
    ),
]


def _duration(param: typer.CallbackParam, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except UsageError as exc:
        fail(f"--time-budget: {exc}", code=2)


TimeBudgetOption = Annotated[
    str | None,
    typer.Option(
        "--time-budget",
        help="Wall time for the search and the retraining together: 10m, 90s, 1h30m. Trials start while "
        "one more and the retraining (timed on the best trial) still fit.",
        callback=_duration,
    ),
]
StudyName = Annotated[
    str | None,
    typer.Option(help="Study name (default: the model name; a dataset-agnostic model's: NAME-DATASET)."),
]
Sampler = Annotated[
    str | None, typer.Option(help="tpe, random, grid, gp or cmaes (default tpe; grid with --grid).")
]
Pruner = Annotated[str, typer.Option(help="hyperband, median or none.")]
Epochs = Annotated[int, typer.Option(help="Epochs per trial while tuning.")]
Subset = Annotated[
    int | None,
    typer.Option(
        help="Training images per trial while tuning (stratified; a smaller training set is used "
        "whole); 0 = all."
    ),
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
    dataset: Dataset = None,
    trials: Trials = 30,
    timeout: Timeout = None,
    time_budget: TimeBudgetOption = None,
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
        time_budget=time_budget,
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
        dataset=dataset,
    )
    # Before the live table starts: a bad value or an unusable storage is one line, not a table and a line.
    asked_split = "val_fraction" in cfg.fixed
    spec = check_config(cfg)
    if not asked_split and "val_fraction" in cfg.fixed:
        err.print(
            f"{safe(spec.name)}'s recipe trains on every image; its trials are scored on a validation split "
            f"of {safe(cfg.fixed['val_fraction'])} of the training images (--set val_fraction=F to choose)",
            highlight=False,
        )
    check_study_owner(cfg, open_storage(cfg.storage, heartbeat=False))
    result = _run_live(cfg, err if as_json else out)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    _print_result(result, cfg)


def _run_live(cfg: TuneConfig, console) -> TuneResult:
    plain = not console.is_terminal
    view = TuneView(cfg.study_name, cfg.trials, log=console if plain else None)
    callbacks = TuneCallbacks(
        trial_started=view.trial_started_cb,
        epoch_done=view.epoch_done,
        trial_done=view.trial_done,
        study_opened=view.study_best,
        retrain_started=view.retrain_started,
        test_started=view.test_started,
        # above the live view: a run folder the study names but zoo refuses to touch
        warning=lambda message: console.print(f"warning: {safe(message)}", highlight=False, soft_wrap=True),
        note=lambda message: console.print(safe(message), highlight=False, soft_wrap=True),
    )
    try:
        if plain:
            return tune(cfg, callbacks)
        with Live(view, console=console, refresh_per_second=4, transient=False):
            return tune(cfg, callbacks)
    except KeyboardInterrupt:
        err.print(
            f"interrupted: study {safe(repr(cfg.study_name))} is intact; run the same command to resume it",
            highlight=False,
        )
        raise typer.Exit(code=interrupted_exit_code()) from None


def _print_result(result: TuneResult, cfg: TuneConfig) -> None:
    if result.best is None:
        out.print("no trial completed; see the failure reasons above")
        raise typer.Exit(code=1)
    test = result.final.record.metrics["test"]
    out.print(
        f"best trial {result.best.number:d}: val acc [bold]{result.best.value:.4f}[/]  "
        f"{params_text(result.best.params)}",
        highlight=False,
    )
    retrained = ", retrained" if cfg.retrain else ""
    trial = f"trial {result.best.number:d}{retrained}"
    title = f"{safe(cfg.model)} (study {safe(cfg.study_name)}, {trial}): test set"
    out.print(classification_table(test, title=title))
    out.print(
        f"test accuracy [bold]{test['accuracy']:.4f}[/]{with_flips(result.final.record.train_config)}; "
        f"run saved to [bold]{safe(result.final.run_dir)}[/]",
        highlight=False,
    )
