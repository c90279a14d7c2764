"""The model registry: named variants with their defaults, search space, dataset and provenance.

A variant is a short declarative `register_model(...)` call in its family's module (see zoo/models/).
This module is a leaf, as timm's `_registry.py`: it imports no family and no shipped weights; the
families import it and register themselves (zoo/models/__init__.py imports them all, and Python imports
that package before any module in it). Shipped weights are looked up where they are used (zoo.weights).
Hyperparameters are a flat dict: architecture knobs go to the family's builder; training knobs
(fields of `TrainConfig`) live in `train` so one `--set key=value` reaches either.
"""

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zoo.core.errors import UsageError
from zoo.data.lookup import get_dataset_info

# optuna.Trial -> hyperparameters (model and train keys). A dataset-agnostic variant's space also takes
# the input shape, (trial, input_shape | None), since what fits depends on it; see `suggest`.
SearchSpace = Callable[..., dict[str, Any]]
Builder = Callable[..., nn.Module]  # builder(input_shape, num_classes, **hparams) -> nn.Module


@dataclass(frozen=True)
class Recorded:
    """A result measured with the variant's own recipe and written down in benchmarks/RESULTS.md.

    Shown by `zoo models`; like torchvision's weight `meta`, a test checks every entry's schema."""

    test_accuracy: float  # mean over seeds, on the official test split
    std: float  # across seeds (0.0 for one seed)
    seeds: int
    epochs: int  # the recipe's epochs (early stopping may end sooner)
    batch_size: int  # the recipe's batch size (with epochs, what a test checks against today's recipe)
    train_seconds: float  # per seed
    machine: str  # e.g. "cpu-2c: 2 Xeon cores (AVX512-BF16/AMX)" or "1x H100"
    date: str  # ISO date of the measurement
    command: str  # what produced it
    budget: str = "default"  # the named budget it was trained with (see ModelSpec.budgets)

    def summary(self) -> str:
        spread = f" ± {self.std:.2%}" if self.seeds > 1 else ""
        budget = "" if self.budget == "default" else f", --budget {self.budget}"
        return (
            f"{self.test_accuracy:.2%}{spread} ({self.seeds} seed{'s' if self.seeds > 1 else ''}, "
            f"{self.epochs} ep{budget}, {self.train_seconds:.0f} s, {self.machine.split(':')[0]})"
        )


@dataclass(frozen=True)
class StepBudget:
    """A dataset-agnostic recipe's length in optimizer steps rather than epochs (zoo/train/budget.py turns it
    into epochs for the run's training set): `steps` is what the recipe's epochs take on Fashion-MNIST's
    54,000 training images, so the budget there stays the same; `min_epochs` and `max_epochs` bound the
    epochs on very large and very small training sets."""

    steps: int
    min_epochs: int = 2
    max_epochs: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.min_epochs <= self.max_epochs or self.steps < 1:
            raise ValueError(f"a step budget needs steps >= 1 and 1 <= min <= max epochs, got {self}")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    # The dataset a preset is bound to; None: a dataset-agnostic variant, built for whatever dataset a run
    # names (its input shape and class count), see `resolve_dataset`.
    dataset: str | None
    builder: Builder
    hparams: dict[str, Any]
    train: dict[str, Any]
    search_space: SearchSpace
    provenance: str
    grid: dict[str, list] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    recorded: Recorded | None = None
    # Other named training budgets, each a set of overrides: "published" is the budget of the study a variant
    # reproduces (its epochs, early stopping and validation split, and architecture keys where the study
    # built its layers otherwise, such as block_order), "short" a cut-down one. The registered recipe is
    # the budget called "default".
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What `zoo tune` changes when it retrains the winner: its epochs and what short trials cannot judge
    # (augmentation pays only over many epochs). `--retrain-epochs` and `--set` still win.
    retrain: dict[str, Any] = field(default_factory=dict)
    # A dataset-agnostic variant's training length in optimizer steps: its epochs follow the size of the
    # run's training set (zoo/train/budget.py) unless the run sets epochs. None: the recipe's epochs as
    # they are.
    step_budget: StepBudget | None = None

    def hyperparameters(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The architecture hyperparameters with `overrides` applied; unknown keys are an error."""
        merged = dict(self.hparams)
        for key, value in (overrides or {}).items():
            if key not in merged:
                raise UsageError(
                    f"{key!r} is not a hyperparameter of {self.name}; valid: {', '.join(sorted(merged))}"
                )
            merged[key] = value
        return merged


_REGISTRY: dict[str, ModelSpec] = {}


def _registered() -> dict[str, ModelSpec]:
    """The registry with every family in it: importing this module imported its package first, and
    zoo/models/__init__.py imports every family (each registers its variants as it is imported)."""
    return _REGISTRY


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; `pattern` is a shell-style wildcard such as 'fashion-*'."""
    names = sorted(_registered())
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def get_spec(name: str) -> ModelSpec:
    try:
        return _registered()[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "run `zoo models` to list them"
        raise UsageError(f"unknown model {name!r}; {hint}") from None


DEFAULT_BUDGET = "default"


def budget_overrides(spec: ModelSpec, budget: str | None) -> dict[str, Any]:
    """The `train` overrides of `spec`'s named budget; `None` or "default" is the registered recipe."""
    if budget in (None, DEFAULT_BUDGET):
        return {}
    if budget not in spec.budgets:
        known = ", ".join([DEFAULT_BUDGET, *spec.budgets])
        raise UsageError(f"{spec.name} has no budget {budget!r}; its budgets: {known}")
    return dict(spec.budgets[budget])


ANY_DATASET = "any"  # how listings show the dataset of a dataset-agnostic variant


def agnostic_counterpart(spec: ModelSpec) -> str | None:
    """The dataset-agnostic variant that builds what preset `spec` builds, for messages: `cnn-fast` for
    fashion-cnn-fast, else the family's own (`cnn` for mnist-cnn); None where none is registered."""
    for name in (spec.name.partition("-")[2], spec.family):
        other = _registered().get(name)
        if other is not None and other.dataset is None:
            return name
    return None


def resolve_dataset(spec: ModelSpec, dataset: str | None = None) -> str:
    """The dataset a run of `spec` uses: the one function every command asks.

    A preset takes its own dataset (naming it again is fine, naming another is refused); a
    dataset-agnostic variant needs one named. An unknown name is the data package's one-line error."""
    if dataset is None:
        if spec.dataset is None:
            raise UsageError(f"{spec.name} needs --dataset NAME; `zoo data list` shows the datasets")
        return spec.dataset
    name = get_dataset_info(dataset).name
    if spec.dataset is not None and name != spec.dataset:
        other = agnostic_counterpart(spec)
        hint = f"; for {name} use the dataset-agnostic `{other} --dataset {name}`" if other else ""
        raise UsageError(f"{spec.name} is bound to {spec.dataset}{hint}")
    return name


def input_shape_of(spec: ModelSpec, dataset: str | None = None) -> tuple[int, int, int]:
    return tuple(get_dataset_info(resolve_dataset(spec, dataset)).image_shape)


def num_classes_of(spec: ModelSpec, dataset: str | None = None) -> int:
    return len(get_dataset_info(resolve_dataset(spec, dataset)).class_names)


def create_model(name: str, dataset: str | None = None, **hparams: Any) -> nn.Module:
    """Build variant `name` for its dataset's input shape and classes (a dataset-agnostic variant for
    `dataset`'s), with `hparams` overriding its defaults."""
    spec = get_spec(name)
    return create_model_for(name, input_shape_of(spec, dataset), num_classes_of(spec, dataset), **hparams)


def create_model_for(
    name: str, input_shape: tuple[int, ...] | list[int], num_classes: int, **hparams: Any
) -> nn.Module:
    """Build variant `name` for an explicit input shape and class count: how a run is rebuilt from what
    its record says, whether or not its dataset is still there."""
    spec = get_spec(name)
    return spec.builder(tuple(input_shape), num_classes, **spec.hyperparameters(hparams))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_count(name: str, dataset: str | None = None, **hparams: Any) -> int:
    """Parameters of variant `name` (for `dataset`) with `hparams`, counted on the meta device: nothing is
    allocated, so space estimates before training cost no memory."""
    with torch.device("meta"):
        return count_parameters(create_model(name, dataset, **hparams))


def suggest(spec: ModelSpec, trial: Any, input_shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """The search space's values at `trial`. A dataset-agnostic variant's space is told the input shape,
    since how many blocks an image survives depends on it; None asks for its widest form (what
    `zoo models` lists)."""
    if spec.dataset is None:
        return spec.search_space(trial, input_shape)
    return spec.search_space(trial)


def any_shape(space: SearchSpace) -> SearchSpace:
    """A preset's space that holds for any input shape, in the form a dataset-agnostic variant's takes."""

    def shaped(trial: Any, input_shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
        return space(trial)

    shaped.__doc__ = space.__doc__
    return shaped


def search_space_params(
    spec: ModelSpec, samples: int = 32, input_shape: tuple[int, int, int] | None = None
) -> dict[str, Any]:
    """Every Optuna distribution the define-by-run space can declare (at `input_shape` for a
    dataset-agnostic variant), conditional ones included, found by sampling it in memory (nothing is
    stored)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    names: dict[str, Any] = {}
    for _ in range(samples):
        trial = study.ask()
        suggest(spec, trial, input_shape)
        names.update(trial.distributions)
        study.tell(trial, 0.0)
    return names
