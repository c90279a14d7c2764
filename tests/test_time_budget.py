"""`zoo tune --time-budget`: the duration syntax, the retraining estimate from the best trial's own speed,
the stop rule, and a real study that stops for it."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from zoo.core.errors import UsageError
from zoo.tune import time_budget as budget_module
from zoo.tune.time_budget import TimeBudget, format_duration, parse_duration
from zoo.tune.tuning import TuneCallbacks, TuneConfig, tune


@given(st.integers(0, 30), st.integers(0, 59), st.integers(0, 59))
def test_hours_minutes_and_seconds_add_up(h, m, s):
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    total = h * 3600 + m * 60 + s
    if total == 0:
        return
    assert parse_duration(text) == total
    assert parse_duration(text.upper()) == total
    assert parse_duration(str(total)) == total  # plain seconds


@pytest.mark.parametrize(
    "text", ["", "m", "10x", "5m3h", "-5", "0", "0s", "nan", "inf", "1e9", "10 m", "1h1h"]
)
def test_what_is_not_a_positive_duration_is_refused(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_fractions_and_the_printed_form():
    assert parse_duration("1.5h") == 5400 and parse_duration("2.5m") == 150
    assert (
        format_duration(600) == "10m00s" and format_duration(42.4) == "42s" and format_duration(61) == "1m01s"
    )


def _trial(seconds: float, epochs: int, train_seconds: float | None = None, state=TrialState.COMPLETE):
    begun = datetime.datetime(2026, 11, 30, 8, 0, 0)
    return FrozenTrial(
        number=0,
        trial_id=0,
        state=state,
        value=0.9 if state == TrialState.COMPLETE else None,
        values=None,
        datetime_start=begun,
        datetime_complete=begun + datetime.timedelta(seconds=seconds),
        params={"lr": 0.01},
        distributions={"lr": FloatDistribution(1e-4, 1e-1)},
        user_attrs={} if train_seconds is None else {"train_seconds": train_seconds},
        system_attrs={},
        intermediate_values={e: 0.5 for e in range(1, epochs + 1)},
    )


def test_the_retraining_estimate_scales_the_trials_training_and_keeps_its_fixed_cost():
    # 4 epochs of 18,000 images in 36 s of training (0.5 ms per image-epoch), 6 s of building and evaluating
    best = _trial(42, 4, train_seconds=36)
    budget = TimeBudget(600, trial_images=18_000, retrain_images=54_000)
    assert budget.retrain_seconds(best, 15) == pytest.approx(36 / (4 * 18_000) * 54_000 * 15 + 6)
    assert budget.retrain_seconds(best, 30) - 6 == pytest.approx(2 * (budget.retrain_seconds(best, 15) - 6))
    assert TimeBudget(600, 18_000, retrain_images=0).retrain_seconds(best, 15) == 0  # --no-retrain
    # an older study without the attribute: the whole trial counts as training (an over-estimate)
    assert budget.retrain_seconds(_trial(42, 4), 15) == pytest.approx(42 / (4 * 18_000) * 54_000 * 15)


def test_a_trial_starts_only_while_it_and_the_retraining_fit(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: now[0])
    budget = TimeBudget(600, trial_images=18_000, retrain_images=54_000, started=1000.0)
    best = _trial(40, 4, train_seconds=40)  # retraining 15 epochs: 40 / 72,000 * 810,000 = 450 s
    trials = [best, _trial(20, 2, state=TrialState.PRUNED)]  # the next trial: their mean, 30 s
    now[0] = 1000 + 600 - 450 - 30  # exactly one more trial and the retraining left
    fits, retrain = budget.room_for_another_trial(trials, best, 15)
    assert fits and retrain == pytest.approx(450)
    now[0] += 1
    assert not budget.room_for_another_trial(trials, best, 15)[0]
    assert budget.room_for_another_trial(trials, None, 15)[0]  # no trial has finished: nothing to go by


@pytest.fixture
def _real_data(fashion_small):
    """A real study on Fashion-MNIST subsets (skipped when it is not installed)."""


@pytest.mark.usefixtures("_real_data")
def test_a_study_stops_starting_trials_when_the_budget_only_fits_the_retraining():
    said: list[str] = []
    cfg = TuneConfig(model="fashion-mlp", trials=50, epochs=1, subset=1000, time_budget=5, retrain_epochs=1)
    result = tune(cfg, TuneCallbacks(note=said.append))
    assert said[0].startswith("time budget 5s: trials start while the time left fits one more")
    assert "54,000 images" in said[0]
    assert any("no more trials" in line for line in said[1:])
    assert 1 <= result.new_trials < 50 and result.final.record.retrained

    roomy = TuneConfig(model="fashion-mlp", trials=2, epochs=1, subset=1000, time_budget=3600, retrain=False)
    said.clear()
    assert tune(roomy, TuneCallbacks(note=said.append)).new_trials == 2  # room left: every trial asked for
    assert said[0].startswith("study 'fashion-mlp' resumed: ")  # the study of the first call
    assert len(said) == 2 and "(no retraining)" in said[1]


@pytest.mark.usefixtures("_real_data")
def test_the_budgets_stop_says_what_it_keeps_time_for(monkeypatch):
    """With --no-retrain it said it kept the time "for retraining trial N"; with no completed trial it
    failed on the best trial that was not there (an internal error after the first trial)."""
    import optuna

    from zoo.tune import tuning as tune_module

    said: list[str] = []
    cfg = TuneConfig(model="fashion-mlp", trials=50, epochs=1, subset=1000, time_budget=1, retrain=False)
    result = tune(cfg, TuneCallbacks(note=said.append))
    assert 1 <= result.new_trials < 50 and result.best is not None
    assert said[-1].startswith("time budget: ") and "less than a trial takes" in said[-1], said
    assert not any("retraining trial" in line for line in said), said

    monkeypatch.setattr(
        tune_module, "make_pruner", lambda name, epochs: optuna.pruners.ThresholdPruner(lower=1.01)
    )
    said.clear()
    pruned = TuneConfig(model="fashion-mlp", study="pruned", trials=50, epochs=3, subset=1000, time_budget=1)
    result = tune(pruned, TuneCallbacks(note=said.append))  # every trial pruned: no best to retrain
    assert 1 <= result.new_trials < 50 and result.best is None
    assert "less than a trial takes" in said[-1] and "no more trials" in said[-1], said
