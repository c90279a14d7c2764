"""What `zoo export` (and later bench/report) act on: `best`, a study, a model name or a run directory."""

from dataclasses import dataclass
from pathlib import Path

import optuna

from zoo.core import paths
from zoo.core.errors import CheckpointError, UsageError, ZooError
from zoo.core.names import check_name, run_dir_from
from zoo.models.registry import list_models
from zoo.train.checkpoint import RECORD, WEIGHTS, read_record
from zoo.tune.studies import best_trial, default_storage_url, load_study, open_storage


@dataclass
class RunTarget:
    run_dir: Path
    name: str  # folder name for exports: <study>-t<trial> or the run directory's name
    model: str
    study: str | None = None
    trial: int | None = None


def _from_run_dir(path: Path) -> RunTarget:
    record = read_record(path)
    study, trial = record.study, record.trial
    name = f"{study}-t{trial}" if study is not None and trial is not None and record.retrained else path.name
    return RunTarget(path, name, record.model, study, trial)


def _final_run(study: optuna.Study) -> tuple[Path, int] | None:
    """(run folder, trial) of the study's final run as its attribute `final` names them, checked: any
    worker can write that attribute, and what it names is loaded and exported."""
    final = study.user_attrs.get("final") or {}
    source = f"study {study.study_name!r} attribute final"
    if not isinstance(final, dict):
        raise ZooError(f"{source} is not an object; run `zoo tune` on the study again to rewrite it")
    if not final.get("run_dir"):
        return None
    trial = final.get("trial")
    if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
        raise ZooError(f"{source}.trial {trial!r} is not a trial number; run `zoo tune` on the study again")
    return run_dir_from(final["run_dir"], f"{source}.run_dir"), trial


def _from_study(study: optuna.Study) -> RunTarget | None:
    """The study's final (retrained) run when its weights exist, else its best trial (whose weights
    `zoo tune` always keeps) when they were not deleted by hand. A run folder the study names outside
    the runs root is refused (UntrustedPath), never loaded."""
    model = study.user_attrs.get("model", "?")  # display only: the run's own record names its model
    final = _final_run(study)
    if final is not None and (final[0] / WEIGHTS).is_file():
        run_dir, trial = final
        return RunTarget(run_dir, f"{study.study_name}-t{trial}", model, study.study_name, trial)
    best = best_trial(study)
    if best is None or "run_dir" not in best.user_attrs:
        return None
    run_dir = run_dir_from(
        best.user_attrs["run_dir"], f"study {study.study_name!r} trial {best.number} attribute run_dir"
    )
    if not (run_dir / WEIGHTS).is_file():
        return None
    return RunTarget(run_dir, f"{study.study_name}-t{best.number}", model, study.study_name, best.number)


def _storage(url: str | None):
    url = url or default_storage_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise ZooError(
            f"no studies yet ({url.removeprefix('sqlite:///')} does not exist); run `zoo tune MODEL` "
            "first, or pass a run directory"
        )
    return open_storage(url, heartbeat=False)


def pretrained_target(name: str) -> RunTarget:
    """The run directory of `name`'s shipped weights (found and hash-checked by zoo.weights.store); its
    exports and reports are named `<name>-pretrained`."""
    from zoo.weights.store import locate

    if name not in list_models():
        raise UsageError(f"--pretrained takes a variant's name, not {name!r}; `zoo weights list` shows them")
    return RunTarget(locate(name).folder, f"{name}-pretrained", name)


def resolve_targets(
    target: str, *, storage: str | None = None, study: str | None = None, pretrained: bool = False
) -> list[RunTarget]:
    if pretrained:
        return [pretrained_target(target)]
    if study is not None:
        check_name(study, "study")
    path = Path(target)
    if path.is_dir():
        if not (path / RECORD).is_file():
            raise CheckpointError(
                f"{path} is not a run directory (no {RECORD}); pass a folder under {paths.runs_dir()}"
            )
        return [_from_run_dir(path)]
    if "/" in target or target.startswith("."):
        raise CheckpointError(f"{target} does not exist; pass a run directory, a study, a model or `best`")
    check_name(target, "study or model")
    store = _storage(storage)
    summaries = optuna.get_all_study_summaries(store, include_best_trial=False)
    names = [s.study_name for s in summaries]
    # An ablation's trials are scored on the test set: choosing its "best" would select on the test set.
    ablations = {s.study_name for s in summaries if "ablation" in s.user_attrs}
    for named in (study, target):
        if named in ablations:
            raise UsageError(
                f"{named} is an ablation study: its runs are scored on the test set, so it has no best "
                "to pick; pass one of its run directories (zoo studies show " + named + ")"
            )
    tuned = [n for n in names if n not in ablations]
    if target == "best":
        chosen = [study] if study else sorted(tuned)
        if study and study not in names:
            load_study(study, store)  # raises the helpful error
    elif target in names:
        chosen = [target]
    elif target in list_models():
        chosen = [
            n
            for n in tuned
            if optuna.load_study(study_name=n, storage=store).user_attrs.get("model") == target
        ]
        if not chosen:
            raise UsageError(
                f"no study tunes {target}; run `zoo tune {target}` first, or pass a run directory"
            )
    else:
        load_study(target, store)  # raises: no study named ... (lists the ones there are)
        chosen = []
    found = [t for n in chosen if (t := _from_study(optuna.load_study(study_name=n, storage=store)))]
    if not found:
        raise ZooError(
            f"no completed trial with weights in {', '.join(chosen) or 'this storage'}; "
            "run `zoo tune MODEL` until a trial completes"
        )
    if target in list_models() and len(found) > 1:
        best = max(found, key=lambda t: (read_record(t.run_dir).val_metrics or {"accuracy": 0.0})["accuracy"])
        return [best]
    return found
