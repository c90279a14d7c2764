"""How many epochs a run trains: the recipe's, the user's, or a step budget sized to the training set.

A preset's recipe was measured on its own dataset, so its epochs are kept as they are. A dataset-agnostic
variant (`cnn`, `mlp`, ...; its dataset is None in the registry) meets training sets of any size, and a
fixed epoch count trains a 1,000-image set for a few dozen optimizer steps and a million-image set for
hours; so its recipe is a number of optimizer steps (`registry.StepBudget`) and `plan_epochs` turns that
into epochs for the run's training set. Not to be confused with the named budgets of `--budget NAME`
(sets of overrides, zoo/models/registry.py) or the time budget of `zoo tune` (zoo/tune/time_budget.py).
"""

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from zoo.data import Split, epoch_plan
from zoo.models.registry import ModelSpec
from zoo.train.config import TrainConfig
from zoo.train.loop import augment_config

SIZED = "steps"  # epochs from the variant's step budget and the training set's size
SET = "set"  # epochs the run set (--epochs, --set epochs=N, a named budget, tuning)
RECIPE = "recipe"  # the recipe's own epochs (a preset, or a variant without a step budget)


@dataclass(frozen=True)
class EpochBudget:
    """The epochs a run trains and why; recorded in run.json as `budget`."""

    epochs: int
    source: str  # SIZED, SET or RECIPE
    train_images: int  # images per epoch: the training split plus any augmented copies
    batch_size: int
    steps_per_epoch: int
    target_steps: int | None = None  # the step budget (SIZED only)
    min_epochs: int | None = None
    max_epochs: int | None = None

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def describe(self) -> str:
        """One line for the terminal, e.g. "budget: 200 epochs (4,200 optimizer steps of 21 per epoch:
        2,700 training images at batch 128; the recipe's 4,200 steps); set --set epochs=N to choose"."""
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        how = (
            f"{self.steps:,} optimizer step{'s' if self.steps != 1 else ''} "
            f"of {self.steps_per_epoch:,} per epoch: "
            f"{self.train_images:,} training images at batch {self.batch_size}"
        )
        if self.source == SIZED:
            why = f"the recipe's {self.target_steps:,} steps"
            if self.epochs == self.max_epochs and self.steps < (self.target_steps or 0):
                why += f", capped at {self.max_epochs} epochs"
            elif self.epochs == self.min_epochs and self.steps > (self.target_steps or 0):
                why += f", at least {self.min_epochs} epochs"
            return f"budget: {epochs} ({how}; {why}); set --set epochs=N to choose"
        if self.source == SET:
            return f"budget: {epochs}, as set ({how})"
        return f"budget: {epochs}, the recipe's ({how}); set --set epochs=N to choose"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_epochs(spec: ModelSpec, config: TrainConfig, train_images: int, *, epochs_set: bool) -> EpochBudget:
    """The epochs `spec` trains on `train_images` images per epoch at `config.batch_size`.

    The rule: epochs the run set (`epochs_set`) win; a variant with a step budget (`spec.step_budget`,
    only the dataset-agnostic ones have one) trains

        epochs = clamp(ceil(steps / steps_per_epoch), min_epochs, max_epochs)

    where steps_per_epoch is what `fit` takes (`data.epoch_plan`: full batches only); every other
    variant trains its recipe's `config.epochs`. The steps are what the recipe's epochs take on
    Fashion-MNIST's 54,000 training images (421 steps of 128), so a run there trains as before, while a
    1,000-image set (900 after the validation split) trains 2,100 steps (300 epochs of 7) instead of 70,
    and a large set trains the same number of steps (about the same time) in fewer epochs. The clamp:
    at most 300 epochs, so a tiny set is not evaluated on its validation split thousands of times (on
    1,000 Fashion-MNIST images the 2,100 steps took `cnn` from 79.8% to 83.4%, above SVC's 76.9%:
    benchmarks/RESULTS.md); at least 2, so a huge set still sees each image twice. A batch size the run
    sets keeps the step count (fewer images seen at a smaller batch)."""
    steps_per_epoch, _ = epoch_plan(train_images, config.batch_size)
    steps_per_epoch = max(steps_per_epoch, 1)  # an empty split is fit's error to report
    plan = dict(train_images=train_images, batch_size=config.batch_size, steps_per_epoch=steps_per_epoch)
    budget = spec.step_budget
    if epochs_set or budget is None:
        return EpochBudget(epochs=config.epochs, source=SET if epochs_set else RECIPE, **plan)
    epochs = min(max(math.ceil(budget.steps / steps_per_epoch), budget.min_epochs), budget.max_epochs)
    return EpochBudget(
        epochs=epochs,
        source=SIZED,
        target_steps=budget.steps,
        min_epochs=budget.min_epochs,
        max_epochs=budget.max_epochs,
        **plan,
    )


def images_per_epoch(train: Split, config: TrainConfig) -> int:
    """What one epoch of `fit` goes through: the split, plus `augment_copies` copies of each image of
    `augment_classes` when the run asks for them (`data.with_augmented_copies`)."""
    n = len(train)
    augment = augment_config(config)
    if augment.enabled and augment.classes is not None:
        chosen = torch.isin(train.labels, torch.tensor(config.augment_classes, dtype=train.labels.dtype))
        n += int(chosen.sum()) * config.augment_copies
    return n
