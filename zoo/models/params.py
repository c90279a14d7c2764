"""The declared type and range of every hyperparameter and TrainConfig field, checked once.

`check_value(key, value)` runs in `config.resolve`, before any data is loaded or model built, for every
value whatever its source (a variant's defaults, `--set`, a search space, the scikit-learn estimator),
so a bad value is one line naming the key, the value and what is allowed, never a traceback from
torch.optim or torch.nn after minutes of loading. Tuples are accepted only for per-layer knobs.
"""

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from zoo.core.errors import UsageError
from zoo.models.layers import ACTIVATIONS, BLOCK_ORDERS, INITS, POOL_TYPES


@dataclass(frozen=True)
class Rule:
    kind: type  # int, float, bool or str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low < value instead of low <= value
    high_open: bool = False  # value < high instead of value <= high
    choices: tuple[str, ...] | None = None
    per_layer: bool = False  # a tuple of values, one per layer or block, is allowed
    empty: bool = False  # with per_layer: an empty tuple is allowed (no such layers)
    optional: bool = False  # None is allowed
    pattern: str | None = None  # for strings without a fixed list of choices

    def describe(self) -> str:
        if self.choices:
            what = f"one of {', '.join(self.choices)}"
        elif self.kind is bool:
            what = "true or false"
        elif self.kind is str:
            what = f"text matching {self.pattern}"
        else:
            noun = "an integer" if self.kind is int else "a number"
            what = f"{noun} {self._range()}".rstrip()
        if self.per_layer:
            what += ", or one per layer as a comma list"
        if self.optional:
            what += ", or none"
        return what

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '≥'} {_num(self.low)}"
        return ""

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, list | tuple):
            return self.per_layer and (len(value) > 0 or self.empty) and all(self._one(v) for v in value)
        return self._one(value)

    def _one(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            if not isinstance(value, str):
                return False
            return value in self.choices if self.choices else bool(re.fullmatch(self.pattern or ".*", value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _positive_int(per_layer: bool = False) -> Rule:
    return Rule(int, low=1, per_layer=per_layer)


def _fraction(per_layer: bool = False) -> Rule:
    return Rule(float, low=0, high=1, high_open=True, per_layer=per_layer)


ARCHITECTURE: dict[str, Rule] = {
    "filters": _positive_int(per_layer=True),
    "hidden": _positive_int(per_layer=True),
    "dense_units": Rule(int, low=1, per_layer=True, empty=True),  # () = no dense layer before the output
    "widths": _positive_int(per_layer=True),
    "blocks": _positive_int(per_layer=True),
    "stem_width": _positive_int(),
    "kernel_size": _positive_int(per_layer=True),
    "stride": _positive_int(per_layer=True),
    "pool_size": _positive_int(per_layer=True),
    "pool_type": Rule(str, choices=POOL_TYPES, per_layer=True),
    "dropout": _fraction(per_layer=True),
    "dense_dropout": _fraction(per_layer=True),
    "head_dropout": _fraction(),
    "activation": Rule(str, choices=tuple(ACTIVATIONS)),
    "padding": Rule(str, choices=("same", "valid")),
    "batch_norm": Rule(bool),
    "init": Rule(str, choices=INITS),
    "block_order": Rule(str, choices=BLOCK_ORDERS),
    # the largest side of the map a CNN's dense head flattens / of the image an MLP flattens; 0: any
    "head_side": Rule(int, low=0),
    "input_side": Rule(int, low=0),
}

# Where a family takes one value for a knob other families take per layer.
FAMILY_RULES: dict[str, dict[str, Rule]] = {"resnet": {"dropout": _fraction()}}

TRAINING: dict[str, Rule] = {
    "optimizer": Rule(str, choices=("sgd", "sgd-momentum", "sgd-nesterov", "adam", "adamw")),
    "lr": Rule(float, low=0, low_open=True),
    "momentum": _fraction(),
    "weight_decay": Rule(float, low=0, high=1),
    "batch_size": Rule(int, low=1, high=65536),
    "epochs": Rule(int, low=1, high=10000),
    "schedule": Rule(str, choices=("none", "cosine", "onecycle", "triangular")),
    "label_smoothing": _fraction(),
    "patience": Rule(int, low=0),
    "seed": Rule(int, low=0, high=2**63 - 1),
    "device": Rule(str, pattern=r"auto|cpu|cuda(:\d+)?|mps"),
    "channels_last": Rule(bool),
    "precision": Rule(str, choices=("auto", "fp32", "bf16", "fp16")),
    "val_fraction": _fraction(),
    "subset": Rule(int, low=1, optional=True),
    "augment_translate": Rule(int, low=0, high=16),
    "augment_hflip": Rule(bool),
    "augment_rotation": Rule(float, low=0, high=180),
    "augment_erasing": Rule(float, low=0, high=1),
    # the upper bound is the dataset's class count, checked in check_classes
    "augment_classes": Rule(int, low=0, per_layer=True, optional=True),
    "augment_copies": Rule(int, low=1, high=100),
    "test_time_flip": Rule(bool),
    "compile": Rule(bool),
}


def rule_for(key: str, family: str | None = None) -> Rule | None:
    return (FAMILY_RULES.get(family or "", {}).get(key)) or ARCHITECTURE.get(key) or TRAINING.get(key)


def check_value(key: str, value: Any, family: str | None = None) -> None:
    """UsageError naming the key, the value and what is allowed, unless `value` fits the key's rule."""
    rule = rule_for(key, family)
    if rule is None:
        raise UsageError(f"{key} has no declared type and range; this is a bug in zoo, please report it")
    if not rule.accepts(value):
        shown = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
        raise UsageError(f"{key}={shown} is not allowed: {key} takes {rule.describe()}")


def check_classes(classes: Any, num_classes: int) -> None:
    if classes is None:
        return
    bad = [
        c for c in (classes if isinstance(classes, list | tuple) else [classes]) if not 0 <= c < num_classes
    ]
    if bad:
        raise UsageError(
            f"augment_classes={','.join(map(str, bad))} is not allowed: class indices go from 0 to "
            f"{num_classes - 1} for this dataset"
        )


def unknown_key(key: str, valid: set[str], model: str) -> UsageError:
    close = difflib.get_close_matches(key, sorted(valid), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else f"valid keys: {', '.join(sorted(valid))}"
    return UsageError(f"{key!r} is not a hyperparameter of {model}; {hint}")
