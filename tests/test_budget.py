"""Budgets that fit the data (issue 38): a dataset-agnostic variant's epochs follow its training set's size.

The rule is `zoo.train.budget.plan_epochs`; these check what it plans (Fashion-MNIST's budget unchanged, small
sets trained for thousands of steps, large ones not for hours, the run's epochs winning, presets
untouched) and that `zoo train` says it and trains what it planned."""

import dataclasses
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagefolders import make_image_folder
from typer.testing import CliRunner

from cli.main import app
from zoo.data import epoch_plan
from zoo.models import registry
from zoo.models.registry import StepBudget, get_spec, list_models
from zoo.train.budget import RECIPE, SET, SIZED, plan_epochs
from zoo.train.config import resolve

runner = CliRunner()
SIZED_VARIANTS = [n for n in list_models() if get_spec(n).step_budget is not None]
PRESETS = [n for n in list_models() if get_spec(n).dataset is not None]
FASHION_TRAIN = 60_000


def _plan(name: str, train_images: int, epochs_set: bool = False, **overrides):
    spec = get_spec(name)
    _, config = resolve(spec, overrides, "fashion-mnist")
    return plan_epochs(spec, config, train_images, epochs_set=epochs_set), config


def test_every_dataset_agnostic_variant_has_a_step_budget():
    agnostic = [n for n in list_models() if get_spec(n).dataset is None]
    assert agnostic == SIZED_VARIANTS and {"cnn", "cnn-fast", "mlp"} <= set(agnostic)


@pytest.mark.parametrize("name", SIZED_VARIANTS)
def test_fashion_mnist_keeps_the_recipe_epochs(name):
    """On Fashion-MNIST's training split (54,000 images after a 10% validation split, else all 60,000)
    the step budget gives back the recipe's epochs: the budget there is what it was."""
    spec = get_spec(name)
    _, config = resolve(spec, {}, "fashion-mnist")
    train_images = FASHION_TRAIN - round(FASHION_TRAIN * config.val_fraction)
    plan, _ = _plan(name, train_images)
    assert plan.source == SIZED and plan.epochs == spec.train["epochs"]
    assert plan.steps_per_epoch == epoch_plan(train_images, config.batch_size)[0]


@pytest.mark.parametrize("name", SIZED_VARIANTS)
def test_small_sets_train_for_thousands_of_steps_and_large_ones_not_for_hours(name):
    small, _ = _plan(name, 900)  # a 1,000-image dataset less its validation split
    assert small.steps >= 1_400 and small.epochs <= small.max_epochs  # was 70 steps (10 epochs of 7)
    large, _ = _plan(name, 100_000)
    assert large.epochs < get_spec(name).train["epochs"]  # fewer epochs than on Fashion-MNIST ...
    assert large.steps - large.target_steps < large.steps_per_epoch  # ... and the same steps, not more


def test_the_examples_of_the_rule():
    plan, _ = _plan("cnn", 1_260)  # the 1,400-image dataset: 9 steps of 128 per epoch
    assert (plan.steps_per_epoch, plan.epochs, plan.steps) == (9, 300, 2_700)  # capped at 300 epochs
    assert "capped at 300 epochs" in plan.describe() and "set --set epochs=N to choose" in plan.describe()
    plan, _ = _plan("cnn", 2_700)
    assert (plan.steps_per_epoch, plan.epochs, plan.steps) == (21, 201, 4_221)
    plan, _ = _plan("cnn-fast", 5_000_000)  # 39,062 steps per epoch: at least 2 epochs
    assert plan.epochs == 2 and "at least 2 epochs" in plan.describe()


@given(train_images=st.integers(1, 3_000_000), batch_size=st.sampled_from([16, 32, 128, 1024]))
def test_the_plan_is_the_step_budget_clamped(train_images, batch_size):
    plan, _ = _plan("cnn", train_images, batch_size=batch_size)
    assert plan.steps_per_epoch == max(1, epoch_plan(train_images, batch_size)[0])
    assert plan.min_epochs <= plan.epochs <= plan.max_epochs
    if plan.min_epochs < plan.epochs < plan.max_epochs:  # unclamped: the fewest epochs that reach the steps
        assert plan.steps >= plan.target_steps > plan.steps - plan.steps_per_epoch
    assert plan.epochs == min(max(math.ceil(4_210 / plan.steps_per_epoch), 2), 300)


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_the_runs_epochs_win(name):
    plan, config = _plan(name, 900, epochs_set=True, epochs=60)
    assert (plan.source, plan.epochs, config.epochs) == (SET, 60, 60)
    assert "as set" in plan.describe()


@pytest.mark.parametrize("name", PRESETS)
def test_presets_keep_their_recipes(name):
    spec = get_spec(name)
    assert spec.step_budget is None
    _, config = resolve(spec, {}, spec.dataset)
    for train_images in (900, 54_000, 1_000_000):
        plan = plan_epochs(spec, config, train_images, epochs_set=False)
        assert (plan.source, plan.epochs) == (RECIPE, spec.train["epochs"])


def test_zoo_train_says_the_budget_and_trains_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    src = make_image_folder(tmp_path / "tiny", {"a": 10, "b": 10}, size=(8, 8))
    assert runner.invoke(app, ["data", "add", "tiny", str(src), "--size", "8"]).exit_code == 0
    # a smaller step budget, so the tiny set trains in a second: 12 steps of 1 per epoch, 12 epochs
    smaller = dataclasses.replace(get_spec("cnn"), step_budget=StepBudget(steps=12))
    monkeypatch.setitem(registry._REGISTRY, "cnn", smaller)
    result = runner.invoke(app, ["train", "cnn", "--dataset", "tiny"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    budget = next(i for i, line in enumerate(lines) if line.startswith("budget: "))
    assert lines[budget].startswith("budget: 12 epochs (12 optimizer steps of 1 per epoch: ")
    assert lines[budget].endswith("set --set epochs=N to choose")
    assert budget < next(i for i, line in enumerate(lines) if line.startswith("epoch "))  # before training

    record = json.loads(next((tmp_path / "artifacts" / "runs" / "cnn").glob("*/run.json")).read_text())
    assert record["budget"]["source"] == SIZED and record["budget"]["epochs"] == 12
    assert record["train_config"]["epochs"] == len(record["history"]) == 12  # steps planned = steps taken

    result = runner.invoke(app, ["train", "cnn", "--dataset", "tiny", "--set", "epochs=1"])
    assert result.exit_code == 0, result.output
    assert "budget: 1 epoch, as set (1 optimizer step of 1 per epoch" in result.stdout


def test_an_interrupted_sized_run_lists_the_epochs_it_plans(tmp_path, monkeypatch):
    """`zoo runs` showed the recipe's epochs (10) for a run whose budget sized it to 12."""
    from zoo.train.resume import list_unfinished
    from zoo.train.runs import train_run

    src = make_image_folder(tmp_path / "tiny", {"a": 10, "b": 10}, size=(8, 8))
    assert runner.invoke(app, ["data", "add", "tiny", str(src), "--size", "8"]).exit_code == 0
    smaller = dataclasses.replace(get_spec("cnn"), step_budget=StepBudget(steps=12))
    monkeypatch.setitem(registry._REGISTRY, "cnn", smaller)

    def stop_after_two(stats) -> None:
        if stats.epoch == 2:
            raise KeyboardInterrupt

    folder = tmp_path / "artifacts" / "runs" / ".unfinished" / "cnn" / "r"
    with pytest.raises(KeyboardInterrupt):
        train_run("cnn", {}, dataset="tiny", unfinished=folder, on_epoch=stop_after_two)
    (run,) = list_unfinished("cnn")
    assert (run.epoch, run.epochs) == (2, 12)
