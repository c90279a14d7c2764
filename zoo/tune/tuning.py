"""`zoo tune`: an Optuna study over a variant's search space.

The objective trains on a stratified subset for a few epochs and reports validation accuracy each
epoch so the pruner can stop poor trials early; the test set is never touched while tuning. When the
study ends, the best configuration is retrained on the full training split and evaluated once on the
test set, and those metrics are stored on the study (user attribute `final`) for export and bench.
"""

import contextlib
import logging
import math
import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from zoo.core import paths
from zoo.core.errors import TrainingDiverged, UntrustedPath, UsageError, ZooError
from zoo.core.fileio import check_writable
from zoo.core.names import check_name, inside, run_dir_from
from zoo.data import DataSplits, load
from zoo.models.params import check_value, rule_for, unknown_key
from zoo.models.registry import (
    ModelSpec,
    get_spec,
    input_shape_of,
    parameter_count,
    resolve_dataset,
    search_space_params,
    suggest,
)
from zoo.train.checkpoint import WEIGHTS, load_run, update_record
from zoo.train.config import TRAIN_KEYS, default_for, parse_value, resolve
from zoo.train.loop import EpochStats
from zoo.train.resume import REQUEST, ResumeRequest, discard_unfinished, run_lock, unfinished_dir
from zoo.train.runs import RunResult, evaluate_run, jsonable, resume_run, train_run
from zoo.tune.studies import (
    StorageError,
    best_trial,
    completed_trials,
    heartbeat_periods,
    open_storage,
    summarize,
)
from zoo.tune.time_budget import MAX_TIME_BUDGET, StopWhenBudgetRunsOut, TimeBudget, format_duration

SAMPLERS = ("tpe", "random", "grid", "gp", "cmaes")
DEFAULT_RETRAIN_EPOCHS = 15
PRUNERS = ("hyperband", "median", "none")


@dataclass
class TuneConfig:
    """How a study runs; stored on the study (user attribute `tune_config`) for the record."""

    model: str
    trials: int = 30
    timeout: float | None = None
    # seconds for the search and the retraining together (--time-budget); see zoo/tune/time_budget.py
    time_budget: float | None = None
    study: str | None = None  # default: the model name
    storage: str | None = None  # default: sqlite:///<artifacts>/zoo.db
    sampler: str | None = None  # default: tpe, or grid when a grid is given or the variant has one only
    pruner: str = "hyperband"
    epochs: int = 3  # per trial, while tuning
    # training images while tuning (stratified), at most: a smaller training split is used whole
    subset: int | None = 15_000
    seed: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)  # --set: fixed values, removed from the search
    # --grid: the axes of a grid search, each a list of values or "v1,v2" text; empty with sampler
    # "grid" means the variant's own grid
    grid: dict[str, Any] = field(default_factory=dict)
    keep: int = 3  # keep the weights of the best K trials
    retrain: bool = True  # retrain the best configuration on the full training split
    # epochs of that retraining; None: the winner's epochs where the search tunes them, else 15
    retrain_epochs: int | None = None
    data_dir: str | None = None
    # the dataset (registry.resolve_dataset): a preset's own by default; check_config resolves it
    dataset: str | None = None

    @property
    def study_name(self) -> str:
        """`--study`, else the model's name, and for a dataset-agnostic variant its dataset's too
        (`cnn-cifar10`): two datasets never share a study by accident."""
        if self.study:
            return self.study
        if self.dataset is not None and get_spec(self.model).dataset is None:
            return f"{self.model}-{self.dataset}"
        return self.model

    def input_shape(self, spec: ModelSpec) -> tuple[int, int, int] | None:
        """What a dataset-agnostic variant's search space is told (None for a preset: its space is fixed)."""
        return input_shape_of(spec, self.dataset) if spec.dataset is None else None


@dataclass
class TuneCallbacks:
    """Progress hooks for a front end; all optional."""

    trial_started: Callable[[int, dict], None] | None = None  # (trial number, params)
    epoch_done: Callable[[int, EpochStats], None] | None = None  # (trial number, stats)
    trial_done: Callable[[optuna.Study, FrozenTrial], None] | None = None
    # once the study is open, before its new trials: a resumed study's best is already there
    study_opened: Callable[[optuna.Study], None] | None = None
    # the study's best trial (of all its trials, not only this call's) retrained on the full training split
    retrain_started: Callable[[FrozenTrial], None] | None = None
    # the study's best trial's own run tested as it is (no retraining)
    test_started: Callable[[FrozenTrial], None] | None = None
    # one line each: something read from the study that zoo refused to act on; None: the `zoo` logger
    warning: Callable[[str], None] | None = None
    # one line each: what the time budget plans and decides; None: the `zoo` logger
    note: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        if self.note:
            self.note(message)
        else:
            logging.getLogger("zoo").info("%s", message)

    def warn(self, message: str) -> None:
        if self.warning:
            self.warning(message)
        else:
            logging.getLogger("zoo").warning("warning: %s", message)


@dataclass
class TuneResult:
    study: optuna.Study
    best: FrozenTrial | None
    final: RunResult | None  # the retrained (or best) run evaluated on the test set
    new_trials: int

    def to_dict(self) -> dict[str, Any]:
        """The study's summary, the best trial and the final run's figures, as plain JSON data."""
        best = None
        if self.best is not None:
            best = {
                "number": self.best.number,
                "val_acc": self.best.value,
                "params": self.best.params,
                "run_dir": self.best.user_attrs.get("run_dir"),
            }
        return {
            "study": summarize(self.study).to_dict(),
            "new_trials": self.new_trials,
            "best": best,
            "final": self.study.user_attrs.get("final"),
        }


# ---------------------------------------------------------------- search space and fixed values


def _like(distribution: optuna.distributions.BaseDistribution) -> Any:
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return distribution.choices[0]
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return 0
    return 0.0


def split_fixed(
    spec: ModelSpec, assignments: dict[str, str], input_shape: tuple[int, int, int] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`--set` values -> (search parameters pinned in the sampler, config overrides applied on top).

    A name of the search space (e.g. `lr`, `conv_blocks`, `filters_1`) is pinned so the sampler stops
    exploring it; any other architecture or training key overrides what the search space produces.
    `input_shape`: the space of a dataset-agnostic variant at that shape."""
    space = search_space_params(spec, input_shape=input_shape)
    pinned, overrides = {}, {}
    for key, text in assignments.items():
        if key in space:
            value = parse_value(text, _like(space[key]), key)
            dist = space[key]
            if isinstance(dist, optuna.distributions.CategoricalDistribution) and value not in dist.choices:
                choices = ", ".join(map(str, dist.choices))
                raise UsageError(f"--set {key}={text}: not one of the search space's choices ({choices})")
            if not isinstance(dist, optuna.distributions.CategoricalDistribution) and not (
                isinstance(value, int | float) and dist.low <= value <= dist.high
            ):
                raise UsageError(
                    f"--set {key}={text} is not allowed: the search space takes {key} "
                    f"in [{dist.low}, {dist.high}]"
                )
            if rule_for(key) is not None:
                check_value(key, value, spec.family)
            pinned[key] = value
        elif key in spec.hparams or key in TRAIN_KEYS:
            overrides[key] = parse_value(text, default_for(spec, key), key)
        else:
            raise unknown_key(key, set(space) | set(spec.hparams) | TRAIN_KEYS, spec.name)
    return pinned, overrides


def parse_grid(spec: ModelSpec, assignments: dict[str, str]) -> dict[str, list]:
    """`--grid lr=0.01,0.001` -> {'lr': [0.01, 0.001]}; keys are architecture or training keys."""
    grid: dict[str, list] = {}
    for key, text in assignments.items():
        like = default_for(spec, key)
        if isinstance(like, tuple):
            raise UsageError(f"--grid {key}: a tuple-valued knob cannot be a grid axis; fix it with --set")
        values = [parse_value(t, like, key) for t in text.split(",") if t.strip()]
        if not values:
            raise UsageError(f"--grid {key}= has no values; e.g. --grid {key}=v1,v2")
        grid[key] = values
    return grid


def grid_size(grid: dict[str, list]) -> int:
    return math.prod(len(v) for v in grid.values()) if grid else 0


def pin_grid(
    cfg: TuneConfig, spec: ModelSpec, pinned: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """With the grid sampler every `--set` holds in every trial: a grid axis collapses to the value, any
    other training or architecture key overrides what the grid point gives. The grid sampler never calls
    the search space, so a name only the search space knows (say `conv_blocks`) would do nothing: refused."""
    overrides = dict(overrides)
    for key, value in pinned.items():
        if key in cfg.grid or key in spec.hparams or key in TRAIN_KEYS:
            overrides[key] = value
        else:
            raise UsageError(
                f"--set {key} names a parameter of {spec.name}'s search space, which --sampler grid does "
                f"not use; set a grid axis ({', '.join(cfg.grid)}) or a training/architecture key instead"
            )
    cfg.grid = {k: ([overrides.pop(k)] if k in overrides else v) for k, v in cfg.grid.items()}
    return overrides  # every pin is now an override or a one-value axis: nothing is left for the sampler


def max_trial_epochs(cfg: TuneConfig, spec: ModelSpec, overrides: dict[str, Any]) -> int:
    """The most epochs a trial can train (Hyperband's maximum resource): `--epochs`, unless `--set` fixes
    the epochs or the search tunes them, in which case the largest value it can draw."""
    if "epochs" in overrides:
        return int(overrides["epochs"])
    if cfg.sampler == "grid":
        return max(cfg.grid["epochs"]) if "epochs" in cfg.grid else cfg.epochs
    distribution = search_space_params(spec, input_shape=cfg.input_shape(spec)).get("epochs")
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return max(int(v) for v in distribution.choices)
    if distribution is not None:
        return int(distribution.high)
    return cfg.epochs


# ---------------------------------------------------------------- sampler, pruner, study


def make_sampler(
    name: str, seed: int, grid: dict[str, list], pinned: dict[str, Any]
) -> optuna.samplers.BaseSampler:
    """The sampler `name` (checked by check_config); pinned values wrap it in a PartialFixedSampler."""
    if name == "grid":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.GridSampler(grid, seed=seed)
    elif name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif name == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    elif name == "cmaes":
        sampler = optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    else:
        # constant_liar: parallel workers do not all propose the point a running trial already explores
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if pinned and name != "grid":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.PartialFixedSampler(pinned, sampler)
    return sampler


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


# The validation split of a study whose variant's recipe has none (it trains on every image)
TUNING_VAL_FRACTION = 0.1


def check_config(cfg: TuneConfig) -> ModelSpec:
    """Resolve the sampler and grid, and refuse a bad study name, sampler, pruner, count, fixed value or
    environment (UsageError, exit 2) or a destination without room (exit 1) before anything starts.
    A recipe without a validation split gets TUNING_VAL_FRACTION in `cfg.fixed` (tuning scores trials on
    one). Returns the variant's spec."""
    spec = get_spec(cfg.model)
    cfg.dataset = resolve_dataset(spec, cfg.dataset)
    _resolve_search(cfg, spec)
    _check(cfg, spec)
    heartbeat_periods()
    _, overrides = split_fixed(spec, cfg.fixed, cfg.input_shape(spec)) if cfg.fixed else ({}, {})
    if resolve(spec, overrides, cfg.dataset)[1].val_fraction == 0:
        if "val_fraction" in cfg.fixed:  # the user asked for none: tuning cannot score a trial
            raise UsageError(
                f"tuning scores trials on a validation split; --set val_fraction=0 leaves none: drop it or "
                f"give a fraction such as {TUNING_VAL_FRACTION}"
            )
        # a recipe that trains on every image (cnn-fast): its trials are scored on a split of their own
        cfg.fixed = {**cfg.fixed, "val_fraction": str(TUNING_VAL_FRACTION)}  # as --set gives it: text
    run_bytes = parameter_count(spec.name, cfg.dataset) * 4 + (1 << 20)
    # the kept trials' weights and the retraining's run and resume state, before any data is loaded
    check_writable(paths.runs_dir(), run_bytes * (cfg.keep + 6), "the study's runs")
    return spec


def _resolve_search(cfg: TuneConfig, spec: ModelSpec) -> None:
    """Grid axes given as text are parsed; no sampler means tpe, or grid when a grid is given; the
    grid sampler without axes searches the variant's own grid."""
    text = {k: v for k, v in cfg.grid.items() if isinstance(v, str)}
    cfg.grid = {**cfg.grid, **parse_grid(spec, text)}
    if cfg.sampler is None:
        cfg.sampler = "grid" if cfg.grid else "tpe"
    if cfg.sampler == "grid" and not cfg.grid and spec.grid:
        cfg.grid = {k: list(v) for k, v in spec.grid.items()}


def _check(cfg: TuneConfig, spec: ModelSpec) -> None:
    check_name(cfg.study_name if cfg.study is None else cfg.study, "study")
    if cfg.sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {cfg.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    if cfg.pruner not in PRUNERS:
        raise UsageError(f"unknown pruner {cfg.pruner!r}; choose one of: {', '.join(PRUNERS)}")
    if cfg.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {cfg.trials}")
    if cfg.time_budget is not None and not 0 < cfg.time_budget <= MAX_TIME_BUDGET:
        raise UsageError(f"--time-budget must be more than 0 s and at most a year, got {cfg.time_budget!r}")
    if cfg.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {cfg.epochs}")
    if cfg.keep < 1:
        raise UsageError(f"--keep must be at least 1, got {cfg.keep}")
    if cfg.timeout is not None and cfg.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {cfg.timeout}")
    if cfg.grid and cfg.sampler != "grid":
        raise UsageError(f"--grid needs --sampler grid (got --sampler {cfg.sampler})")
    if cfg.sampler == "grid" and not cfg.grid:
        raise UsageError(f"{spec.name} has no grid of its own; give the values with --grid key=v1,v2 ...")


def check_study_owner(cfg: TuneConfig, storage: optuna.storages.BaseStorage) -> None:
    """Refuse an existing study of another model or dataset before any data is loaded."""
    try:
        study = optuna.load_study(study_name=cfg.study_name, storage=storage)
    except KeyError:  # no such study yet
        return
    _check_owner(cfg, study.user_attrs)


def _check_owner(cfg: TuneConfig, attrs: dict[str, Any]) -> None:
    owner, tuned_on = attrs.get("model"), attrs.get("dataset")
    if owner is not None and owner != cfg.model:
        raise UsageError(
            f"study {cfg.study_name!r} tunes {owner}, not {cfg.model}; pick another --study name"
        )
    # scores of trials on another dataset do not compare, and its winner would be retrained on this one
    if tuned_on is not None and tuned_on != cfg.dataset:
        raise UsageError(
            f"study {cfg.study_name!r} tunes {cfg.model} on {tuned_on}, not {cfg.dataset}; "
            "pick another --study name"
        )


def open_model_study(cfg: TuneConfig, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create the study or join the existing one; refuse a study that belongs to another model or was
    tuned on another dataset (its trials' scores would not be comparable)."""
    study = optuna.create_study(
        study_name=cfg.study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    _check_owner(cfg, study.user_attrs)
    if study.user_attrs.get("model") is None:
        study.set_user_attr("model", get_spec(cfg.model).name)
    if study.user_attrs.get("dataset") is None:
        study.set_user_attr("dataset", cfg.dataset)
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        raise UsageError(f"study {cfg.study_name!r} does not maximise accuracy; pick another --study name")
    return study


# ---------------------------------------------------------------- objective


def make_objective(
    cfg: TuneConfig, spec: ModelSpec, data: DataSplits, overrides: dict[str, Any], callbacks: TuneCallbacks
) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        if cfg.sampler == "grid":
            values = {k: trial.suggest_categorical(k, v) for k, v in cfg.grid.items()}
        else:
            values = suggest(spec, trial, data.info.image_shape)
        config = {"epochs": cfg.epochs, **values, **overrides, "subset": cfg.subset, "seed": cfg.seed}
        resolve(spec, config, cfg.dataset)  # a bad combination fails here, before any training
        trial.set_user_attr("config", jsonable(config))
        if callbacks.trial_started:
            callbacks.trial_started(trial.number, dict(trial.params))

        def on_epoch(stats: EpochStats) -> None:
            if callbacks.epoch_done:
                callbacks.epoch_done(trial.number, stats)
            trial.report(stats.val_acc, stats.epoch)
            # after the last epoch the work is done: keep the result rather than prune it
            if stats.epoch < stats.epochs and trial.should_prune():
                trial.set_user_attr("pruned_at_epoch", stats.epoch)
                raise optuna.TrialPruned(f"pruned after epoch {stats.epoch} (val acc {stats.val_acc:.4f})")

        run_dir = inside(
            paths.runs_dir(), spec.name, f"{cfg.study_name}-t{trial.number:04d}-{secrets.token_hex(2)}"
        )
        try:
            result = train_run(
                spec.name,
                config,
                dataset=cfg.dataset,
                data=data,
                evaluate_test=False,
                run_dir=run_dir,
                on_epoch=on_epoch,
                extra_record={"study": cfg.study_name, "trial": trial.number},
            )
        except TrainingDiverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:500])
            raise
        value = result.record.metrics["val"]["accuracy"]
        if not math.isfinite(value):
            trial.set_user_attr("fail_reason", f"validation accuracy is {value}")
            raise optuna.TrialPruned(f"validation accuracy is {value}")
        trial.set_user_attr("run_dir", str(result.run_dir))
        trial.set_user_attr("val_loss", result.record.metrics["val"]["log_loss"])
        trial.set_user_attr("num_params", result.record.num_params)
        trial.set_user_attr("train_seconds", result.record.train_seconds)
        return value

    return objective


# ---------------------------------------------------------------- disk: keep the best K


def trial_source(study: optuna.Study, trial: FrozenTrial, attribute: str = "run_dir") -> str:
    """Where a value was read, for messages: `study 'x' trial 3 attribute run_dir`."""
    return f"study {study.study_name!r} trial {trial.number} attribute {attribute}"


def prune_checkpoints(
    study: optuna.Study, keep: int, on_refused: Callable[[int, str], None] | None = None
) -> list[Path]:
    """Delete the weights of completed trials outside the best `keep`; run.json stays as the record.

    A trial's `run_dir` is written by whichever worker ran it (or anyone who can write the storage), so
    only a run folder under this machine's runs root is touched; any other is left alone and reported
    through `on_refused(trial number, message)`."""
    complete = completed_trials(study)
    complete.sort(key=lambda t: t.value, reverse=True)
    removed = []
    for trial in complete[keep:]:
        if "run_dir" not in trial.user_attrs:
            continue
        try:
            run_dir = run_dir_from(trial.user_attrs["run_dir"], trial_source(study, trial))
        except UntrustedPath as exc:
            if on_refused:
                on_refused(trial.number, f"kept its weights: {exc}")
            continue
        if not (run_dir / WEIGHTS).exists():
            continue
        (run_dir / WEIGHTS).unlink(missing_ok=True)
        # The record is informational; a concurrent worker may be updating it at the same moment.
        with contextlib.suppress(Exception):
            update_record(run_dir, weights_deleted=f"not among the best {keep} trials of {study.study_name}")
        removed.append(run_dir)
    return removed


# ---------------------------------------------------------------- the study


@dataclass
class _OpenStudy:
    """What `tune` has checked, loaded and opened before its first trial; the later steps share it."""

    cfg: TuneConfig  # its subset as the trials train on it
    spec: ModelSpec
    study: optuna.Study
    data: DataSplits
    overrides: dict[str, Any]  # the --set values the sampler does not pin
    val_fraction: float
    done_before: int  # the study's trials before this call's


def tune(cfg: TuneConfig, callbacks: TuneCallbacks | None = None) -> TuneResult:
    """Run `cfg.trials` more trials (resuming the study if it exists), then retrain and test the best."""
    callbacks = callbacks or TuneCallbacks()
    started = time.monotonic()  # --time-budget covers the checks and the data loading too
    opened = _open_study(cfg, callbacks)
    budget = _time_budget(opened.cfg, opened.data, opened.val_fraction, started, callbacks)
    _run_trials(opened, budget, callbacks)
    new_trials = len(opened.study.trials) - opened.done_before
    best = best_trial(opened.study)
    final = finish(opened.cfg, opened.spec, opened.study, best, callbacks) if best is not None else None
    return TuneResult(opened.study, best, final, new_trials)


def _open_study(cfg: TuneConfig, callbacks: TuneCallbacks) -> _OpenStudy:
    """Check the config, load the data and open the study (or resume it) with its sampler and pruner."""
    spec = check_config(cfg)
    pinned, overrides = split_fixed(spec, cfg.fixed, cfg.input_shape(spec)) if cfg.fixed else ({}, {})
    if cfg.sampler == "grid":
        pinned, overrides = {}, pin_grid(cfg, spec, pinned, overrides)
    _, base_config = resolve(spec, {**overrides}, cfg.dataset)  # checked by check_config; for the split
    storage = open_storage(cfg.storage)
    check_study_owner(cfg, storage)
    data = load(
        cfg.dataset,
        data_dir=cfg.data_dir,
        val_fraction=base_config.val_fraction,
        seed=cfg.seed,
        subset=cfg.subset,
        subset_at_most=True,
    )
    # what the trials train on: the whole training split where it is smaller than --subset
    cfg = replace(cfg, subset=data.fingerprint["subset"])
    done_before = len(open_model_study(cfg, storage).trials)
    # Offset the seed by the trials already run, so a resumed study does not replay its first points.
    sampler = make_sampler(cfg.sampler, cfg.seed + done_before, cfg.grid, pinned)
    pruner = make_pruner(cfg.pruner, max_trial_epochs(cfg, spec, overrides))
    study = optuna.load_study(study_name=cfg.study_name, storage=storage, sampler=sampler, pruner=pruner)
    study.set_user_attr("tune_config", jsonable({**asdict(cfg), "fixed": cfg.fixed}))
    if cfg.sampler == "grid":
        study.set_user_attr("grid", cfg.grid)
    if callbacks.study_opened:
        callbacks.study_opened(study)
    if done_before:
        callbacks.say(resumed_note(study, done_before))
    return _OpenStudy(cfg, spec, study, data, overrides, base_config.val_fraction, done_before)


def _run_trials(opened: _OpenStudy, budget: TimeBudget | None, callbacks: TuneCallbacks) -> None:
    """This call's trials; after each, the weights outside the best K go, then the budget may stop it."""
    cfg, spec, study = opened.cfg, opened.spec, opened.study
    after_trial: list[Callable[[optuna.Study, FrozenTrial], None]] = [
        _keep_best_and_report(cfg.keep, callbacks)
    ]
    if budget is not None:
        after_trial.append(
            StopWhenBudgetRunsOut(
                budget,
                retrain=cfg.retrain,
                retrain_epochs_of=lambda best: retrain_epochs(cfg, best, spec),
                best_of=best_trial,
                first_trial=opened.done_before,
                say=callbacks.say,
            )
        )
    objective = make_objective(cfg, spec, opened.data, opened.overrides, callbacks)
    n_trials = min(cfg.trials, grid_size(cfg.grid)) if cfg.sampler == "grid" else cfg.trials
    try:
        with _one_line_trial_failures():
            study.optimize(
                objective,
                n_trials=n_trials,
                timeout=min((t for t in (cfg.timeout, cfg.time_budget) if t), default=None),
                catch=(Exception,),
                callbacks=after_trial,
                gc_after_trial=False,
            )
    except (OSError, AssertionError) as exc:
        # A journal write that fails (a full disk) surfaces from Optuna as OSError or, from inside its
        # trial loop, as AssertionError("Should not reach."); say what happened and how to recover.
        if not (cfg.storage or "").startswith("journal:"):
            raise
        path = cfg.storage.removeprefix("journal:")
        reason = getattr(exc, "strerror", None) or "the disk is probably full"
        raise StorageError(
            f"writing the journal {path} failed ({reason}); free some space and run the command again "
            f"(if zoo then reports a torn record, `zoo studies repair {path}` fixes it)"
        ) from None


def _keep_best_and_report(keep: int, callbacks: TuneCallbacks) -> Callable[[optuna.Study, FrozenTrial], None]:
    """The callback that deletes the weights outside the best `keep` trials, then reports the trial."""
    refused: set[int] = set()

    def refuse(number: int, message: str) -> None:
        if number not in refused:  # the study is scanned after every trial: say it once per trial
            refused.add(number)
            callbacks.warn(message)

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        prune_checkpoints(study, keep, refuse)
        if callbacks.trial_done:
            callbacks.trial_done(study, trial)

    return after_trial


def resumed_note(study: optuna.Study, trials_before: int) -> str:
    """What a resumed study already holds, said before its new trials: its best so far is what a
    retraining retrains, unless a new trial beats it."""
    best = best_trial(study)
    so_far = (
        f"best so far trial {best.number} (val acc {best.value:.4f})"
        if best is not None
        else "none completed yet"
    )
    return f"study {study.study_name!r} resumed: {trials_before} earlier trial(s), {so_far}"


def _time_budget(
    cfg: TuneConfig, data: DataSplits, val_fraction: float, started: float, callbacks: TuneCallbacks
) -> TimeBudget | None:
    """The budget of `--time-budget`, said up front with what it keeps for the retraining."""
    if not cfg.time_budget:
        return None
    pool = data.pool_size or len(data.train) + len(data.val)
    retrain_images = round(pool * (1 - val_fraction)) if cfg.retrain else 0
    budget = TimeBudget(cfg.time_budget, len(data.train), retrain_images, started=started)
    if cfg.retrain:
        what = (
            f", then retrains the best configuration on {retrain_images:,} images (its time estimated from "
            "the best trial's own speed)"
        )
    else:
        what = " (no retraining)"
    callbacks.say(
        f"time budget {format_duration(cfg.time_budget)}: trials start while the time left fits one more"
        f"{what}"
    )
    return budget


def retrain_epochs(cfg: TuneConfig, best: FrozenTrial, spec: ModelSpec) -> int:
    """`--retrain-epochs` when given; else the winner's own epochs when the search tuned them (the tuned
    value is part of what won), else the variant's retraining length, else the default one."""
    if cfg.retrain_epochs:
        return cfg.retrain_epochs
    if "epochs" in best.params:
        return int(best.params["epochs"])
    return int(spec.retrain.get("epochs", DEFAULT_RETRAIN_EPOCHS))


def retrain_config(cfg: TuneConfig, spec: ModelSpec, best: FrozenTrial, trial_config: dict) -> dict:
    """The winner's configuration for its retraining: on the full training split, for retrain_epochs,
    with the variant's retraining settings except where the user's own `--set` or the search decided."""
    config = dict(trial_config)
    config.pop("subset", None)
    decided = set(cfg.fixed) | set(best.params)
    config.update({k: v for k, v in spec.retrain.items() if k != "epochs" and k not in decided})
    config["epochs"] = retrain_epochs(cfg, best, spec)
    return config


class _TrialFailureFilter(logging.Filter):
    """Optuna logs a failed trial with its traceback. zoo keeps the reason on the trial (`fail_reason`) and
    its front end shows it, so the warning stays one line. (An interrupted trial's warnings are dropped
    altogether, for every study: zoo.tune.studies.quiet_optuna.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _one_line_trial_failures():
    logger = logging.getLogger("optuna.study._optimize")
    quiet = _TrialFailureFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _same_request(unfinished: Path, config: dict[str, Any], dataset: str | None) -> bool:
    """An interrupted retraining there was of this configuration on this dataset."""
    if not (unfinished / REQUEST).is_file():
        return False
    request = ResumeRequest.read(unfinished)
    return request.overrides == jsonable(config) and request.dataset in (None, dataset)


def finish(
    cfg: TuneConfig, spec: ModelSpec, study: optuna.Study, best: FrozenTrial, callbacks: TuneCallbacks
) -> RunResult:
    """Retrain the best configuration on the full training split (or reload its checkpoint) and
    evaluate it once on the test set; store the figures on the study."""
    config = best.user_attrs.get("config") or {}
    if not isinstance(config, dict):
        raise ZooError(
            f"{trial_source(study, best, 'config')} is not an object of settings; tune a new study"
        )
    config = dict(config)  # its keys and values are checked by train_run, as --set values are
    if cfg.retrain and callbacks.retrain_started:
        callbacks.retrain_started(best)
    if not cfg.retrain and callbacks.test_started:
        callbacks.test_started(best)
    if cfg.retrain:
        config = retrain_config(cfg, spec, best, config)
        # An interrupted retraining of this trial with this configuration continues where it stopped.
        unfinished = unfinished_dir(spec.name, f"{cfg.study_name}-best-t{best.number:04d}")
        with run_lock(unfinished):  # a second worker retraining the same winner is refused, not raced
            if _same_request(unfinished, config, cfg.dataset):
                final = resume_run(unfinished)
            else:
                discard_unfinished(unfinished)
                run_dir = inside(
                    paths.runs_dir(),
                    spec.name,
                    f"{cfg.study_name}-best-t{best.number:04d}-{secrets.token_hex(2)}",
                )
                final = train_run(
                    spec.name,
                    config,
                    dataset=cfg.dataset,
                    data_dir=cfg.data_dir,
                    run_dir=run_dir,
                    extra_record={"study": cfg.study_name, "trial": best.number, "retrained": True},
                    unfinished=unfinished,
                )
    else:
        run_dir = run_dir_from(best.user_attrs.get("run_dir"), trial_source(study, best))
        model, record = load_run(run_dir)
        data = load(
            record.dataset,
            data_dir=cfg.data_dir,
            val_fraction=record.train_config["val_fraction"],
            seed=record.train_config["seed"],
        )
        metrics = evaluate_run(model, record, test=data.test).metrics
        record = update_record(run_dir, metrics={**record.metrics, "test": metrics})
        final = RunResult(run_dir, record, model, data)
    test = final.record.metrics["test"]
    study.set_user_attr(
        "final",
        {
            "trial": best.number,
            "run_dir": str(final.run_dir),
            "retrained": cfg.retrain,
            "val_accuracy": best.value,
            "test_accuracy": test["accuracy"],
            "test_log_loss": test["log_loss"],
            "test_macro_f1": test["macro_avg"]["f1"],
            "epochs": final.record.train_config["epochs"],
        },
    )
    return final
