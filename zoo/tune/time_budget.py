"""`zoo tune --time-budget`: the search starts trials only while what is left of the budget still fits
one more trial and the retraining of the best configuration; both are estimated from this study's own
trials, the retraining from the best trial's measured speed (its architecture is what gets retrained)."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from zoo.core.errors import UsageError

MAX_TIME_BUDGET = 366 * 24 * 3600
_UNITS = {"h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str) -> float:
    """'10m', '90s', '1h30m', '1.5h' or plain seconds ('600') -> seconds."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        match = _DURATION.fullmatch(value)
        if not value or not match or not any(match.groups()):
            raise UsageError(
                f"{text!r} is not a duration; write it as 10m, 90s, 1h30m or a number of seconds"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in zip(match.groups(), "hms", strict=True) if n)
    if not 0 < seconds <= MAX_TIME_BUDGET:  # a NaN fails too
        raise UsageError(f"a time budget must be more than 0 s and at most a year, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class TimeBudget:
    seconds: float
    trial_images: int  # training images of one trial epoch
    retrain_images: int  # training images of one retraining epoch; 0 when nothing is retrained
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def retrain_seconds(self, best: FrozenTrial, epochs: int) -> float:
        """The best trial's seconds per training image-epoch times the retraining's image-epochs, plus the
        trial's time outside its epochs (building, evaluating, saving), which does not grow with them."""
        if not self.retrain_images or best.duration is None:
            return 0.0
        total = best.duration.total_seconds()
        training = best.user_attrs.get("train_seconds")
        if not isinstance(training, int | float) or not 0 < training <= total:
            training = total  # an older study: the whole trial counts as training, an over-estimate
        epochs_run = max(len(best.intermediate_values), 1)
        per_image_epoch = training / (epochs_run * self.trial_images)
        return per_image_epoch * self.retrain_images * epochs + (total - training)

    def next_trial_seconds(self, trials: list[FrozenTrial]) -> float:
        """The mean duration of the finished trials (pruned ones included: pruning shortens trials)."""
        done = [
            t.duration.total_seconds()
            for t in trials
            if t.duration is not None and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        ]
        return sum(done) / len(done) if done else 0.0

    def room_for_another_trial(
        self, trials: list[FrozenTrial], best: FrozenTrial | None, retrain_epochs: int
    ) -> tuple[bool, float]:
        """(whether one more trial and the retraining still fit, the retraining estimate in seconds)."""
        retrain = self.retrain_seconds(best, retrain_epochs) if best is not None else 0.0
        return self.left() >= self.next_trial_seconds(trials) + retrain, retrain


@dataclass
class StopWhenBudgetRunsOut:
    """An Optuna callback (`study.optimize(..., callbacks=[...])`): after each trial, stop the study once
    what is left of the budget no longer fits one more trial and the retraining, and say which of the two
    ran out, so the user knows whether a shorter retraining would have bought more trials."""

    budget: TimeBudget
    retrain: bool  # False (--no-retrain): only the trials spend the budget
    # the epochs the best trial's retraining would train; zoo.tune.tuning decides them (--retrain-epochs)
    retrain_epochs_of: Callable[[FrozenTrial], int]
    best_of: Callable[[optuna.Study], FrozenTrial | None]
    # the index in `study.trials` of this call's first trial: the estimates go by this call's trials (a
    # resumed study's older ones may have run elsewhere, or with other settings)
    first_trial: int
    say: Callable[[str], None]

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        best = self.best_of(study)
        epochs = self.retrain_epochs_of(best) if best is not None else 0
        trials = study.trials[self.first_trial :]
        fits, retrain = self.budget.room_for_another_trial(trials, best, epochs)
        if not fits:
            self.say(self._why_no_more(trials, best, retrain))
            study.stop()

    def _why_no_more(self, trials: list[FrozenTrial], best: FrozenTrial | None, retrain: float) -> str:
        left = max(self.budget.left(), 0)
        if best is None or not self.retrain:  # nothing to retrain: only trials use the budget
            next_trial = self.budget.next_trial_seconds(trials)
            return (
                f"time budget: {format_duration(left)} left, less than a trial takes (about "
                f"{format_duration(next_trial)}); no more trials"
            )
        if retrain > left:
            return (
                f"time budget: retraining trial {best.number} takes about {format_duration(retrain)}, "
                f"more than the {format_duration(left)} left; no more trials (a shorter retraining: "
                "--retrain-epochs N, or --no-retrain)"
            )
        return (
            f"time budget: {format_duration(left)} left, kept for retraining trial {best.number} (about "
            f"{format_duration(retrain)}); no more trials"
        )
