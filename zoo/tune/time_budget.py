"""`zoo tune --time-budget`: the search starts trials only while what is left of the budget still fits
one more trial and the retraining of the best configuration; both are estimated from this study's own
trials, the retraining from the best trial's measured speed (its architecture is what gets retrained)."""

import re
import time
from dataclasses import dataclass, field

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
