"""The model registry: named variants with their defaults, search space, dataset and provenance.

A variant is a short declarative `register_model(...)` call in its family's module (see zoo/models/).
This module is a leaf, as timm's `_registry.py`: it imports no family; the families import it and
register themselves, and `zoo/__init__.py` imports `zoo.models`, so `import zoo` fills the registry.
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

from zoo.data.catalog import get_dataset_info
from zoo.errors import UsageError

SearchSpace = Callable[[Any], dict[str, Any]]  # optuna.Trial -> hyperparameters (model and train keys)
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
class Weights:
    """A variant's shipped weights, named by the sha256 of their files (torchvision puts a hash prefix in
    each weight file's name; here the registry holds the whole digest). The figures are the shipped run's
    own, on the official test split, and `zoo weights verify` re-measures them from the file."""

    sha256: str  # of weights.safetensors
    record_sha256: str  # of run.json
    size: int  # bytes of weights.safetensors
    correct: int  # correct predictions on the official test split (exact on CPU fp32)
    n: int  # images in that split

    @property
    def tag(self) -> str:
        """The short name of this file, as torchvision's `-<sha8>` suffix."""
        return self.sha256[:8]

    @property
    def test_accuracy(self) -> float:
        return self.correct / self.n


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    dataset: str
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

    @property
    def weights(self) -> Weights | None:
        """The shipped weights, from zoo/shipped.py: the one table of their digests."""
        from zoo.shipped import SHIPPED

        return SHIPPED.get(self.name)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; `pattern` is a shell-style wildcard such as 'fashion-*'."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
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


def input_shape_of(spec: ModelSpec) -> tuple[int, int, int]:
    return get_dataset_info(spec.dataset).image_shape


def num_classes_of(spec: ModelSpec) -> int:
    return len(get_dataset_info(spec.dataset).class_names)


def create_model(name: str, **hparams: Any) -> nn.Module:
    """Build variant `name` for its dataset's input shape, with `hparams` overriding its defaults."""
    spec = get_spec(name)
    return spec.builder(input_shape_of(spec), num_classes_of(spec), **spec.hyperparameters(hparams))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_count(name: str, **hparams: Any) -> int:
    """Parameters of variant `name` with `hparams`, counted on the meta device: nothing is allocated,
    so space estimates before training cost no memory."""
    with torch.device("meta"):
        return count_parameters(create_model(name, **hparams))


def search_space_params(spec: ModelSpec, samples: int = 32) -> dict[str, Any]:
    """Every Optuna distribution the define-by-run space can declare, conditional ones included,
    found by sampling it in memory (nothing is stored)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    names: dict[str, Any] = {}
    for _ in range(samples):
        trial = study.ask()
        spec.search_space(trial)
        names.update(trial.distributions)
        study.tell(trial, 0.0)
    return names
