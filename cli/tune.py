"""`zoo tune NAME`: an Optuna study with a live view; `zoo studies`: what the storage holds."""

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.console import err, expected_errors, key_value_pairs, out
from cli.render import classification_table
from zoo.studies import load_study, open_storage, param_importances, summarize
from zoo.tune import TuneCallbacks, TuneConfig, check_config, tune

RECENT = 8


def _params_text(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class TuneView:
    """The live view: progress line, the running trial, recent trials and the best so far."""

    def __init__(self, study_name: str, total: int):
        self.study_name, self.total = study_name, total
        self.done = 0
        self.current = ""
        self.rows: list[tuple] = []
        self.best: tuple[int, float] | None = None
        self.started = time.perf_counter()
        self.trial_started = time.perf_counter()

    def trial_started_cb(self, number: int, params: dict) -> None:
        self.trial_started = time.perf_counter()
        self.current = f"trial {number}: starting  {_params_text(params)}"

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
            (trial.number, trial.state.name.lower(), _params_text(trial.params), trial.value, seconds, reason)
        )
        if (
            trial.value is not None
            and trial.state.name == "COMPLETE"
            and (self.best is None or trial.value > self.best[1])
        ):
            self.best = (trial.number, trial.value)
        self.current = ""

    def retrain_started(self, trial) -> None:
        self.current = f"retraining trial {trial.number}'s configuration on the full training split"

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


@expected_errors
def tune_command(
    name: Annotated[str, typer.Argument(help="A registered model, e.g. fashion-cnn.")],
    trials: Annotated[int, typer.Option(help="Trials to run now (added to the study's).")] = 30,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after S seconds.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: the model name).")] = None,
    storage: Annotated[
        str | None,
        typer.Option(help="sqlite:///FILE (default artifacts/zoo.db), postgresql://... or journal:FILE."),
    ] = None,
    sampler: Annotated[str, typer.Option(help="tpe, random, grid, gp or cmaes.")] = "tpe",
    pruner: Annotated[str, typer.Option(help="hyperband, median or none.")] = "hyperband",
    epochs: Annotated[int, typer.Option(help="Epochs per trial while tuning.")] = TuneConfig.epochs,
    subset: Annotated[
        int | None, typer.Option(help="Training images per trial while tuning (stratified); 0 = all.")
    ] = TuneConfig.subset,
    seed: Annotated[int, typer.Option(help="Seed for the sampler, the split and training.")] = 0,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", help="Fix a value (removed from the search): key=value, repeatable."),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="Grid axis key=v1,v2 (repeatable); implies --sampler grid."),
    ] = None,
    keep: Annotated[int, typer.Option(help="Keep the weights of the best K trials.")] = TuneConfig.keep,
    retrain: Annotated[
        bool, typer.Option(help="Retrain the best configuration on the full training split before testing.")
    ] = True,
    retrain_epochs: Annotated[
        int, typer.Option(help="Epochs for that retraining; 0 = the variant's own.")
    ] = TuneConfig.retrain_epochs,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Tune a model variant with Optuna; running the same command again resumes the study."""
    from zoo.registry import get_spec

    spec = get_spec(name)
    grid_values = key_value_pairs(grid, "--grid")
    if grid_values and sampler == "tpe":
        sampler = "grid"
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
        keep=keep,
        retrain=retrain,
        retrain_epochs=retrain_epochs or None,
        data_dir=str(data_dir) if data_dir else None,
    )
    if grid_values:
        from zoo.tune import parse_grid

        cfg.grid = parse_grid(spec, grid_values)
    elif sampler == "grid" and spec.grid:
        cfg.grid = dict(spec.grid)

    check_config(cfg)  # before the live table starts: a bad name is one line, not a table and a line
    view = TuneView(cfg.study_name, trials)
    callbacks = TuneCallbacks(
        trial_started=view.trial_started_cb,
        epoch_done=view.epoch_done,
        trial_done=view.trial_done,
        retrain_started=view.retrain_started,
    )
    console = err if as_json else out
    try:
        with Live(view, console=console, refresh_per_second=4, transient=False):
            result = tune(cfg, callbacks)
    except KeyboardInterrupt:
        err.print(f"interrupted: study {cfg.study_name!r} is intact; run the same command to resume it")
        raise typer.Exit(code=130) from None

    summary = summarize(result.study)
    payload = {
        "study": summary.to_dict(),
        "new_trials": result.new_trials,
        "best": None,
        "final": result.study.user_attrs.get("final"),
    }
    if result.best is not None:
        payload["best"] = {
            "number": result.best.number,
            "val_acc": result.best.value,
            "params": result.best.params,
            "run_dir": result.best.user_attrs.get("run_dir"),
        }
    if as_json:
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    if result.best is None:
        out.print("no trial completed; see the failure reasons above")
        raise typer.Exit(code=1)
    final = result.final
    test = final.record.metrics["test"]
    out.print(
        f"best trial {result.best.number}: val acc [bold]{result.best.value:.4f}[/]  "
        f"{_params_text(result.best.params)}",
        highlight=False,
    )
    out.print(
        classification_table(
            test,
            title=f"{name} (study {cfg.study_name}, trial {result.best.number}"
            f"{', retrained' if cfg.retrain else ''}): test set",
        )
    )
    out.print(
        f"test accuracy [bold]{test['accuracy']:.4f}[/]; run saved to [bold]{final.run_dir}[/]",
        highlight=False,
    )


studies_app = typer.Typer(
    help="List studies, or show one: `zoo studies`, `zoo studies show NAME`.", invoke_without_command=True
)


@studies_app.callback()
@expected_errors
def studies_list(
    ctx: typer.Context,
    storage: Annotated[str | None, typer.Option(help="Storage URL (default artifacts/zoo.db).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """A table of studies: model, trials by state, best val acc, its test acc, last update."""
    if ctx.invoked_subcommand is not None:
        return
    from zoo.studies import list_studies

    rows = list_studies(open_storage(storage, heartbeat=False))
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        out.print("no studies yet; run `zoo tune MODEL` to start one")
        return
    table = Table(title="studies")
    for column, justify in (
        ("study", "left"),
        ("model", "left"),
        ("complete", "right"),
        ("pruned", "right"),
        ("fail", "right"),
        ("running", "right"),
        ("best val acc", "right"),
        ("test acc", "right"),
        ("last update", "left"),
    ):
        table.add_column(column, justify=justify)
    for r in rows:
        table.add_row(
            r.name,
            r.model or "?",
            *(str(r.states.get(s, 0)) for s in ("complete", "pruned", "fail", "running")),
            f"{r.best_value:.4f}" if r.best_value is not None else "-",
            f"{r.test_accuracy:.4f}" if r.test_accuracy is not None else "-",
            r.last_update.strftime("%Y-%m-%d %H:%M") if r.last_update else "-",
        )
    out.print(table)


@studies_app.command("show")
@expected_errors
def studies_show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage: Annotated[str | None, typer.Option(help="Storage URL (default artifacts/zoo.db).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """The trials of one study and Optuna's parameter importances."""
    study = load_study(name, open_storage(storage, heartbeat=False))
    trials = study.get_trials(deepcopy=False)
    importances = param_importances(study)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "study": summarize(study).to_dict(),
                    "final": study.user_attrs.get("final"),
                    "importances": importances,
                    "trials": [
                        {
                            "number": t.number,
                            "state": t.state.name.lower(),
                            "value": t.value,
                            "params": t.params,
                            "user_attrs": t.user_attrs,
                        }
                        for t in trials
                    ],
                },
                indent=2,
                default=str,
            )
        )
        return
    table = Table(title=f"study {name} ({study.user_attrs.get('model', '?')})")
    for column, justify in (
        ("#", "right"),
        ("state", "left"),
        ("val acc", "right"),
        ("epochs", "right"),
        ("params", "left"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify)
    for t in trials:
        epochs = str(max(t.intermediate_values)) if t.intermediate_values else "-"
        table.add_row(
            str(t.number),
            t.state.name.lower(),
            f"{t.value:.4f}" if t.value is not None else "-",
            epochs,
            _params_text(t.params),
            t.user_attrs.get("fail_reason", ""),
        )
    out.print(table)
    if importances:
        imp = Table(title="parameter importances (fANOVA)")
        imp.add_column("parameter")
        imp.add_column("importance", justify="right")
        for key, value in importances.items():
            imp.add_row(key, f"{value:.3f}")
        out.print(imp)
    else:
        out.print("parameter importances need at least 2 completed trials")
    final = study.user_attrs.get("final")
    if final:
        out.print(
            f"final: trial {final['trial']} test acc [bold]{final['test_accuracy']:.4f}[/] "
            f"({final['run_dir']})",
            highlight=False,
        )
