"""`zoo ablate`: one-factor-at-a-time studies, several seeds each, stored as an Optuna study.

Each (variant, seed) is an enqueued trial with fixed parameters, so an interrupted ablation resumes
where it stopped: running it again enqueues only the pairs that have not completed. The variants change
one factor of the base configuration each (not the full grid). Each trained model is evaluated once on
its training split and on the test set: an ablation table reports final figures, it steers nothing.
"""

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from zoo.core import paths
from zoo.core.errors import UsageError, ZooError, first_line
from zoo.core.fileio import write_json_atomic
from zoo.core.names import check_name, inside
from zoo.data import DataSplits, Normalizer, load
from zoo.models.registry import (
    DEFAULT_BUDGET,
    ModelSpec,
    budget_overrides,
    create_model,
    get_spec,
    resolve_dataset,
)
from zoo.train.config import TrainConfig, default_for, parse_value, resolve
from zoo.train.loop import evaluate
from zoo.train.runs import RunResult, train_run
from zoo.tune.studies import open_storage

# The classic fashion-cnn study people repeat by hand: 21 one-factor variants of the default model.
CLASSIC_FASHION_CNN: list[tuple[str, dict[str, Any]]] = [
    *[(f"block-1 filters {f}", {"filters": (f, 32)}) for f in (32, 128, 256)],
    *[(f"block-1 kernel {k}", {"kernel_size": (k, 2)}) for k in (2, 5, 7)],
    *[(f"activation {a}", {"activation": a}) for a in ("sigmoid", "tanh")],
    *[(f"block-1 stride {s}", {"stride": (s, 1)}) for s in (2, 5)],
    *[(f"dropout {d}", {"dropout": d}) for d in (0.0, 0.1, 0.5, 0.8)],
    *[(f"block-1 pool size {p}", {"pool_size": (p, 2)}) for p in (1, 5)],
    *[(f"pool type {t}", {"pool_type": t}) for t in ("avg", "min")],
    ("block-2 filters 16", {"filters": (64, 16)}),
    ("block-2 pool average", {"pool_type": ("max", "avg")}),
    ("a single conv block", {"filters": (64,), "kernel_size": 3}),
]
PRESETS = {("fashion-cnn", "classic"): CLASSIC_FASHION_CNN}
REASON = "fail_reason"  # the user attribute that says why a run failed (as zoo tune's trials)
_BUSY = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)  # a pair in one of these is taken


@dataclass
class AblateConfig:
    model: str
    factors: dict[str, str]  # key -> "v1,v2" as typed; each value is its own variant
    preset: str | None = None
    budget: str | None = None  # a named budget of the model (`published`, `short`); None: its recipe
    only: tuple[str, ...] = ()  # run just these variants (labels) of the plan; the base always runs
    epochs: int | None = None
    seeds: int = 3
    subset: int | None = None
    study: str | None = None
    storage: str | None = None
    data_dir: str | None = None
    # the dataset (registry.resolve_dataset): a preset's own by default; `ablate` resolves it
    dataset: str | None = None

    @property
    def study_name(self) -> str:
        # Tables at different budgets, or of a dataset-agnostic variant on different datasets, answer
        # different questions: they never share a study.
        own = self.dataset is not None and get_spec(self.model).dataset is None
        parts = [
            self.model,
            self.dataset if own else None,
            self.preset,
            None if self.budget == DEFAULT_BUDGET else self.budget,
        ]
        return self.study or "ablate-" + "-".join(p for p in parts if p)


def variants(cfg: AblateConfig) -> list[tuple[str, dict[str, Any]]]:
    """[(label, changes)], the base first; every change is validated before anything trains."""
    spec = get_spec(cfg.model)
    out: list[tuple[str, dict[str, Any]]] = [("base", {})]
    if cfg.preset:
        if (cfg.model, cfg.preset) not in PRESETS:
            known = ", ".join(f"{m} --preset {p}" for m, p in PRESETS)
            raise UsageError(f"no preset {cfg.preset!r} for {cfg.model}; presets: {known}")
        out += PRESETS[(cfg.model, cfg.preset)]
    for key, text in cfg.factors.items():
        like = default_for(spec, key)
        # tuple-valued knobs take values separated by '/', each value a comma list: filters=32,32/128,32
        values = text.split("/") if isinstance(like, tuple) or "/" in text else text.split(",")
        for value in (v for v in values if v.strip()):
            out.append((f"{key}={value}", {key: parse_value(value, like, key)}))
    if cfg.only:
        unknown = sorted(set(cfg.only) - {label for label, _ in out})
        if unknown:
            labels = ", ".join(repr(label) for label, _ in out[1:])
            raise UsageError(
                f"--only names no variant of this ablation: {', '.join(unknown)}; variants: {labels}"
            )
        out = [(label, change) for label, change in out if label == "base" or label in cfg.only]
    if len(out) == 1:
        raise UsageError("nothing to ablate: give --factor key=v1,v2 (repeatable) or --preset classic")
    budget = budget_overrides(spec, cfg.budget)
    if cfg.subset:
        budget["subset"] = cfg.subset
    for _, change in out:  # a bad value or a stack that shrinks to nothing fails now, not mid-study
        hparams, _ = resolve(spec, {**budget, **change}, cfg.dataset)
        create_model(cfg.model, cfg.dataset, **hparams)
    return out


def ablate(cfg: AblateConfig, on_run: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Run every (variant, seed) pair not yet done, save the table to artifacts/ablations/<study>.json
    and return it, with the file's path under `saved_to`."""
    spec = get_spec(cfg.model)
    cfg.dataset = resolve_dataset(spec, cfg.dataset)
    check_name(cfg.study_name, "study")
    if cfg.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {cfg.seeds}")
    plan = variants(cfg)
    labels = [label for label, _ in plan]
    changes = dict(plan)
    budget = budget_overrides(spec, cfg.budget)
    if cfg.epochs:
        budget["epochs"] = cfg.epochs
    study = _open_study(cfg, labels, budget)
    _queue_missing_pairs(study, labels, cfg.seeds)
    _, base_config = resolve(spec, budget, cfg.dataset)
    objective = _make_objective(cfg, spec, study, changes, budget, on_run)
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.optimize(objective, n_trials=1, catch=(Exception,))
    return _save_table(cfg, study, labels, changes, base_config)


def _open_study(cfg: AblateConfig, labels: list[str], budget: dict[str, Any]) -> optuna.Study:
    """Create the ablation's study or join it, and record the plan on it."""
    storage = open_storage(cfg.storage)
    study = optuna.create_study(
        study_name=cfg.study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    _check_owner(study, cfg)
    study.set_user_attr(
        "ablation",
        {
            "model": cfg.model,
            "dataset": cfg.dataset,
            "variants": labels,
            "seeds": cfg.seeds,
            "budget": cfg.budget,
            "recipe": budget,
        },
    )
    study.set_user_attr("dataset", cfg.dataset)
    return study


def _queue_missing_pairs(study: optuna.Study, labels: list[str], seeds: int) -> None:
    # Several workers may share the study (`zoo ablate` on each machine against one PostgreSQL URL): a pair
    # already done, queued or running elsewhere is not queued again. A worker that died mid-run leaves a
    # RUNNING trial whose heartbeat stops; Optuna fails it after the grace period and queues it again.
    with warnings.catch_warnings(action="ignore", category=optuna.exceptions.ExperimentalWarning):
        optuna.storages.fail_stale_trials(study)  # a dead worker's run goes back in the queue now
    taken = {_pair(t) for t in study.get_trials(deepcopy=False, states=_BUSY)}
    todo = [(label, seed) for label in labels for seed in range(seeds) if (label, seed) not in taken]
    for label, seed in todo:
        study.enqueue_trial({"variant": label, "seed": seed})


def _make_objective(
    cfg: AblateConfig,
    spec: ModelSpec,
    study: optuna.Study,
    changes: dict[str, dict[str, Any]],
    budget: dict[str, Any],
    on_run: Callable[[str, int], None] | None,
) -> Callable[[optuna.Trial], float]:
    """Train the trial's queued (variant, seed) pair and keep its figures on the trial."""
    splits: dict[tuple, DataSplits] = {}  # loaded once each: the variants of a seed share their split

    def objective(trial: optuna.Trial) -> float:
        label, seed = _claim_pair(study, trial)
        # Kept as user attributes, not Optuna parameters: a categorical parameter's choices may never change
        # within a study, and a resumed ablation adds seeds or variants (`--seeds 3` after `--seeds 1`).
        trial.set_user_attr("variant", label)
        trial.set_user_attr("seed", seed)
        if on_run:
            on_run(label, seed)
        # --subset applies to every variant unless the variant is itself about the subset or the split.
        subset = {"subset": cfg.subset} if cfg.subset else {}
        overrides = {**budget, **subset, **changes[label], "seed": seed}
        started = time.perf_counter()
        try:
            _, config = resolve(spec, overrides, cfg.dataset)
            # Splits are keyed by everything that shapes them: a val_fraction or subset factor gets its own.
            key = (seed, config.val_fraction, config.subset)
            if key not in splits:
                splits[key] = load(
                    cfg.dataset,
                    data_dir=cfg.data_dir,
                    val_fraction=config.val_fraction,
                    seed=seed,
                    subset=config.subset,
                )
            result = train_run(
                cfg.model,
                overrides,
                dataset=cfg.dataset,
                data=splits[key],
                extra_record={"study": cfg.study_name, "trial": trial.number, "ablation": label},
            )
        except Exception as exc:  # Optuna keeps no reason for a failed trial: the table shows this one
            trial.set_user_attr(REASON, first_line(exc)[:300])
            raise
        return _record_figures(trial, result, splits[key], time.perf_counter() - started)

    return objective


def _claim_pair(study: optuna.Study, trial: optuna.Trial) -> tuple[str, int]:
    """The (variant, seed) queued for this trial, unless there is none or an earlier trial holds it."""
    trials = study.get_trials(deepcopy=False)
    pair = _pair(trials[trial.number])
    if pair == (None, None):
        # Another worker took the last queued run between our check and this trial: nothing to do.
        raise optuna.TrialPruned("no queued run left")
    if any(_pair(t) == pair for t in trials[: trial.number] if t.state in _BUSY):
        # Workers started together can both queue a pair; the earlier copy runs it.
        raise optuna.TrialPruned(f"{pair} is queued twice; the earlier trial runs it")
    return pair


def _record_figures(trial: optuna.Trial, result: RunResult, data: DataSplits, seconds: float) -> float:
    """Keep the run's figures on its trial, its training split's too; returns its test accuracy."""
    flip = result.record.train_config["test_time_flip"]
    train = evaluate(result.model, data.train, Normalizer(data.mean, data.std), flip=flip)
    test = result.record.metrics["test"]
    for key, value in {
        "train_acc": train.accuracy,
        "train_loss": train.loss,
        "test_acc": test["accuracy"],
        "test_loss": test["log_loss"],
        "num_params": result.record.num_params,
        "seconds": seconds,
        "epochs_run": len(result.record.history),
        "run_dir": str(result.run_dir),
    }.items():
        trial.set_user_attr(key, value)
    return test["accuracy"]


def _save_table(
    cfg: AblateConfig,
    study: optuna.Study,
    labels: list[str],
    changes: dict[str, dict[str, Any]],
    base_config: TrainConfig,
) -> dict[str, Any]:
    """Write the table, then refuse a table without one figure: the file still shows each run's failure."""
    result = table(study, labels, changes)
    result["budget"] = {"name": cfg.budget or DEFAULT_BUDGET, "recipe": base_config.to_dict()}
    path = inside(paths.artifacts_dir() / "ablations", f"{cfg.study_name}.json")
    write_json_atomic(path, result)
    if not any(row["seeds"] for row in result["rows"]):
        reason = next((r["fail_reason"] for r in result["rows"] if r.get("fail_reason")), "no run completed")
        raise AblationFailed(
            f"every run of ablation {cfg.study_name} failed (first: {reason}); fix it and run it again"
        )
    return {**result, "saved_to": str(path)}


def _check_owner(study: optuna.Study, cfg: AblateConfig) -> None:
    """An ablation study already there must be of this model on this dataset: its rows would not compare."""
    plan = study.user_attrs.get("ablation")
    if not isinstance(plan, dict):
        if study.user_attrs.get("model") is not None:
            raise UsageError(
                f"study {cfg.study_name!r} is a tuning study, not an ablation; pick another --study"
            )
        return
    model, dataset = plan.get("model"), plan.get("dataset") or get_spec(cfg.model).dataset
    if model != cfg.model or dataset != cfg.dataset:
        raise UsageError(
            f"study {cfg.study_name!r} ablates {model} on {dataset}, not {cfg.model} on {cfg.dataset}; "
            "pick another --study name"
        )


class AblationFailed(ZooError):
    """No (variant, seed) pair of an ablation completed: a table without one figure is not a result."""


def _pair(trial) -> tuple[Any, Any]:
    fixed = trial.system_attrs.get("fixed_params") or trial.params
    return fixed.get("variant"), fixed.get("seed")


# Any worker of a shared storage writes these attributes: a value of the wrong type is left out of the
# table (as a missing one is) rather than failing it.
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(study: optuna.Study, labels: list[str], changes: dict[str, dict]) -> dict[str, Any]:
    rows = []
    trials = study.get_trials(deepcopy=False)
    for label in labels:
        mine = [t for t in trials if _pair(t)[0] == label and t.state == TrialState.COMPLETE]
        failed = [t for t in trials if _pair(t)[0] == label and t.state == TrialState.FAIL]
        row: dict[str, Any] = {
            "variant": label,
            "changed": {k: list(v) if isinstance(v, tuple) else v for k, v in changes[label].items()},
            "seeds": len(mine),
            "failed": len(failed),
            "fail_reason": next(
                (t.user_attrs[REASON] for t in failed if isinstance(t.user_attrs.get(REASON), str)), None
            ),
        }
        for key in ("train_acc", "test_acc", "train_loss", "test_loss", "seconds", "epochs_run"):
            values = [t.user_attrs[key] for t in mine if _is_number(t.user_attrs.get(key))]
            row[key] = _mean_std(values) if values else None
        count = mine[0].user_attrs.get("num_params") if mine else None
        row["num_params"] = count if _is_number(count) else None
        rows.append(row)
    return {"study": study.study_name, "rows": rows}
