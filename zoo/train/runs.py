"""One training run end to end: resolve the config, load data, build, fit, evaluate, save the run dir."""

import contextlib
import dataclasses
import platform
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from zoo.core import paths
from zoo.core.errors import UsageError, ZooError
from zoo.core.fileio import check_writable
from zoo.core.metrics import classification_metrics
from zoo.core.version import __version__
from zoo.data import DataSplits, Normalizer, Split, load
from zoo.data.identity import DatasetChanged, check_run_data
from zoo.data.loading import load_test
from zoo.models.registry import (
    ModelSpec,
    count_parameters,
    create_model,
    get_spec,
    parameter_count,
    resolve_dataset,
)
from zoo.train.budget import EpochBudget, images_per_epoch, plan_epochs
from zoo.train.checkpoint import RECORD, RunRecord, save_run
from zoo.train.config import TrainConfig, resolve
from zoo.train.loop import (
    BatchCallback,
    EpochCallback,
    FitResult,
    evaluate,
    fit,
    resolve_precision,
    select_device,
    to_memory_format,
)
from zoo.train.resume import STATE, ResumeRequest, remove_unfinished, run_lock


@dataclass
class RunResult:
    run_dir: Path
    record: RunRecord
    model: nn.Module
    data: DataSplits


@dataclass
class TestEvaluation:
    """A run's model on the official test set: what export, compare, report and tune all need."""

    images: torch.Tensor  # uint8 pixels
    labels: torch.Tensor
    logits: torch.Tensor
    metrics: dict[str, Any]  # classification_metrics of the logits

    @property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)


def evaluate_run(
    model: nn.Module,
    record: RunRecord,
    *,
    data_dir: str | Path | None = None,
    test: Split | None = None,
    who: str | None = None,
) -> TestEvaluation:
    """Evaluate a run on the test set as `train_run` does: the run's own normalisation statistics and memory
    layout, and logits averaged with the mirror image when the run was trained with `test_time_flip`.

    The official test set is the same whatever the split or subset, so only the raw files are read
    unless `test` (already loaded) is given. A dataset that is not the run's any more (`who` names the run
    in the message) is refused first (zoo.data.identity)."""
    check_run_data(record, who or f"the {record.model} run")
    if test is None:
        test = load_test(record.dataset, data_dir)
    normalize = Normalizer(record.normalization["mean"], record.normalization["std"])
    to_memory_format(model, record.train_config.get("channels_last", True))
    result = evaluate(model, test, normalize, flip=record.train_config["test_time_flip"])
    metrics = classification_metrics(result.logits, result.labels, record.class_names)
    return TestEvaluation(test.images, test.labels, result.logits, metrics)


def _bound_to_data(request: ResumeRequest, unfinished: Path, data: DataSplits) -> ResumeRequest:
    """`request` with the sha256 of the data now loaded; DatasetChanged when a run started on other data
    under the same name is being resumed (its saved state belongs to those images, not to these)."""
    started_on = None
    with contextlib.suppress(ZooError):
        started_on = ResumeRequest.read(unfinished).data_sha256
    now = data.fingerprint["sha256"]
    if started_on is not None and started_on != now:
        raise DatasetChanged(
            f"run {request.run_dir} started on other data than dataset {data.info.name!r} holds now (images "
            f"sha256 {started_on[:12]} then, {now[:12]} now); add the run's images again, or start a new run"
        )
    return dataclasses.replace(request, data_sha256=now)


def versions() -> dict[str, str]:
    return {"zoo": __version__, "torch": torch.__version__, "python": platform.python_version()}


def new_run_dir(model_name: str, root: Path | None = None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return (root or paths.runs_dir()) / model_name / f"{stamp}-{secrets.token_hex(3)}"


def train_run(
    model_name: str,
    overrides: dict[str, Any] | None = None,
    *,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    data: DataSplits | None = None,
    evaluate_test: bool = True,
    run_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    extra_record: dict[str, Any] | None = None,
    on_budget: Callable[[EpochBudget], None] | None = None,
    unfinished: Path | None = None,
) -> RunResult:
    """Train `model_name` with `overrides` (architecture and TrainConfig keys) and save a run directory.

    `dataset` is the run's dataset (`registry.resolve_dataset`: a preset's own by default, needed by a
    dataset-agnostic variant; `data`'s when only that is given), recorded in run.json.
    `evaluate_test=False` keeps the test set untouched (tuning); pass `data` to reuse loaded splits.
    With `unfinished` (a folder, see zoo/train/resume.py) the training state is saved there every epoch and a
    state already there is continued; the folder is removed once the run directory is saved. Every value
    and the destination are checked before any data is loaded. `on_budget` hears the epochs the run
    trains and why (zoo/train/budget.py: sized to the training set, for a dataset-agnostic variant) once the
    data is loaded, before training."""
    plan, config = _check_run(
        model_name,
        overrides,
        dataset=dataset,
        data=data,
        data_dir=data_dir,
        evaluate_test=evaluate_test,
        run_dir=run_dir,
        extra_record=extra_record,
        unfinished=unfinished,
    )
    # the run's lock, before the data is loaded: a second process resuming it is refused at once
    with run_lock(unfinished) if unfinished is not None else contextlib.nullcontext():
        epochs_set = "epochs" in (overrides or {})
        data, budget = _load_and_budget(plan, config, data, data_dir, epochs_set, on_budget)
        config = dataclasses.replace(config, epochs=budget.epochs)
        model, result = _train(plan, config, data, unfinished, on_epoch, on_batch)
        device = select_device(config.device)
        metrics = _evaluate_splits(model, data, config, device, evaluate_test)
        record = _record(plan, config, budget, model, data, result, metrics, device, extra_record)
        # Hand back the model as load_run rebuilds it (CPU, default memory format): both give identical
        # logits.
        model.to("cpu", memory_format=torch.contiguous_format)
        saved = _save(plan, model, record, unfinished)
        return RunResult(plan.run_dir, saved, model, data)


@dataclass
class _Plan:
    """What `train_run` settles before any data is loaded."""

    model_name: str  # as asked for: create_model takes it as given
    spec: ModelSpec
    dataset: str
    hparams: dict[str, Any]
    run_dir: Path
    request: ResumeRequest | None  # what an unfinished run writes, to be resumed from


def _check_run(
    model_name: str,
    overrides: dict[str, Any] | None,
    *,
    dataset: str | None,
    data: DataSplits | None,
    data_dir: str | Path | None,
    evaluate_test: bool,
    run_dir: Path | None,
    extra_record: dict[str, Any] | None,
    unfinished: Path | None,
) -> tuple[_Plan, TrainConfig]:
    """Every value and the destination, checked before the data is loaded and the budget planned."""
    spec = get_spec(model_name)
    if dataset is None and data is not None:
        dataset = data.info.name
    dataset = resolve_dataset(spec, dataset)
    if data is not None and data.info.name != dataset:
        raise UsageError(f"the splits given are of {data.info.name}, not {dataset}")
    hparams, config = resolve(spec, overrides, dataset)
    select_device(config.device)  # an unavailable device fails here, not after loading the data
    run_dir = run_dir or new_run_dir(spec.name)
    num_params = parameter_count(model_name, dataset, **hparams)
    # weights, plus the resume state (weights, best weights and two optimizer moments) while training
    check_writable(run_dir.parent, num_params * 4 * (1 + 4 * (unfinished is not None)) + (1 << 20), "the run")
    request = None
    if unfinished is not None:  # checked as it will be read back, before any data is loaded
        request = ResumeRequest.new(
            model=spec.name,
            dataset=dataset,
            overrides=jsonable(overrides or {}),
            data_dir=str(data_dir) if data_dir else None,
            run_dir=str(run_dir),
            evaluate_test=evaluate_test,
            extra_record=extra_record or {},
            epochs=config.epochs,
        )
    return _Plan(model_name, spec, dataset, hparams, run_dir, request), config


def _load_and_budget(
    plan: _Plan,
    config: TrainConfig,
    data: DataSplits | None,
    data_dir: str | Path | None,
    epochs_set: bool,
    on_budget: Callable[[EpochBudget], None] | None,
) -> tuple[DataSplits, EpochBudget]:
    """The splits (`data` when given) and the epochs to train on them."""
    if data is None:
        data = load(
            plan.dataset,
            data_dir=data_dir,
            val_fraction=config.val_fraction,
            seed=config.seed,
            subset=config.subset,
        )
    # a dataset-agnostic variant's epochs follow the training set's size unless the run sets them
    budget = plan_epochs(plan.spec, config, images_per_epoch(data.train, config), epochs_set=epochs_set)
    if on_budget is not None:
        on_budget(budget)
    return data, budget


def _train(
    plan: _Plan,
    config: TrainConfig,
    data: DataSplits,
    unfinished: Path | None,
    on_epoch: EpochCallback | None,
    on_batch: BatchCallback | None,
) -> tuple[nn.Module, FitResult]:
    torch.manual_seed(config.seed)
    model = create_model(plan.model_name, plan.dataset, **plan.hparams)
    if plan.request is not None:  # written once the data is there: a failed load leaves nothing to resume
        _bound_to_data(plan.request, unfinished, data).write(unfinished)
    state_path = unfinished / STATE if unfinished is not None else None
    return model, fit(model, data, config, on_epoch=on_epoch, on_batch=on_batch, state_path=state_path)


def _evaluate_splits(
    model: nn.Module, data: DataSplits, config: TrainConfig, device: torch.device, evaluate_test: bool
) -> dict[str, Any]:
    """Classification metrics on the validation split, when there is one, and on the test split."""
    normalize = Normalizer(data.mean, data.std, device=device)
    metrics: dict[str, Any] = {}
    if len(data.val):
        val = evaluate(model, data.val, normalize, flip=config.test_time_flip)
        metrics["val"] = classification_metrics(val.logits, val.labels, data.info.class_names)
    if evaluate_test:
        test = evaluate(model, data.test, normalize, flip=config.test_time_flip)
        metrics["test"] = classification_metrics(test.logits, test.labels, data.info.class_names)
    return metrics


def _record(
    plan: _Plan,
    config: TrainConfig,
    budget: EpochBudget,
    model: nn.Module,
    data: DataSplits,
    result: FitResult,
    metrics: dict[str, Any],
    device: torch.device,
    extra_record: dict[str, Any] | None,
) -> dict[str, Any]:
    """The run.json fields (RunRecord checks them when save_run writes them)."""
    return {
        "model": plan.spec.name,
        "family": plan.spec.family,
        "dataset": plan.dataset,
        "hyperparameters": plan.hparams,
        "train_config": config.to_dict(),
        "budget": budget.to_dict(),
        "num_params": count_parameters(model),
        "input_shape": list(data.info.image_shape),
        "class_names": list(data.info.class_names),
        "normalization": {"mean": list(data.mean), "std": list(data.std)},
        "history": [s.to_dict() for s in result.history],
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.seconds, 3),
        "metrics": metrics,
        "data": data.fingerprint,
        "device": str(device),
        "precision": resolve_precision(config.precision, device),
        "versions": versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra_record or {}),
    }


def _save(plan: _Plan, model: nn.Module, record: dict[str, Any], unfinished: Path | None) -> RunRecord:
    """Save the run directory; an unfinished run's state is removed only once the run is saved, so a
    failed save (a full disk) can be finished by a resume."""
    try:
        saved = save_run(plan.run_dir, model, record)
    except (OSError, SafetensorError) as exc:
        if unfinished is None:
            raise ZooError(f"saving the run to {plan.run_dir} failed ({exc})") from None
        raise ZooError(
            f"saving the run to {plan.run_dir} failed ({exc}); the trained state is kept in {unfinished}: "
            f"free some space, then run `zoo train {plan.spec.name} --resume-from {unfinished}` to finish "
            "the save"
        ) from None
    if unfinished is not None:
        remove_unfinished(unfinished)
    return saved


def resume_run(
    unfinished: Path,
    *,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    on_budget: Callable[[EpochBudget], None] | None = None,
) -> RunResult:
    """Continue the unfinished run in `unfinished` (see zoo/train/resume.py) and save it where it was going:
    a run folder under the runs root, whatever the request says (ResumeRequest checks it)."""
    ResumeRequest.read(unfinished)  # an unfinished run, before a lock is made in it
    with run_lock(unfinished):  # held to the end: a second resume of this run is refused at once
        request = ResumeRequest.read(unfinished)  # as it is now: the holder before us may have finished it
        if (request.run_dir / RECORD).is_file():
            remove_unfinished(unfinished)
            raise UsageError(
                f"that run was already saved to {request.run_dir}; its leftover state was removed"
            )
        return train_run(
            request.model,
            request.overrides,
            dataset=request.dataset,
            data_dir=request.data_dir,
            evaluate_test=request.evaluate_test,
            run_dir=request.run_dir,
            on_epoch=on_epoch,
            on_batch=on_batch,
            on_budget=on_budget,
            extra_record=dict(request.extra_record),
            unfinished=unfinished,
        )


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Tuples as lists, as JSON gives them back: overrides compare equal after a round trip."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
