"""TrainConfig, and how a variant's defaults, a search space's values and `--set key=value` combine."""

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from zoo.core.errors import UsageError
from zoo.data.loading import check_load_args
from zoo.data.splits import DEFAULT_VAL_FRACTION
from zoo.models.params import check_classes, check_value, unknown_key
from zoo.models.registry import ModelSpec, num_classes_of


@dataclass
class TrainConfig:
    """Everything about how a model is trained; saved in every run.json."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # used by sgd-momentum and sgd-nesterov
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 5
    schedule: str = "none"
    label_smoothing: float = 0.0
    patience: int = 0  # early stopping on validation loss after this many epochs without improvement; 0 = off
    seed: int = 0
    device: str = "auto"
    channels_last: bool = True  # NHWC conv kernels: measured faster with oneDNN on CPU and cuDNN on GPU
    # autocast: auto = bf16 where it was measured faster (CUDA; AMX, or AVX512-BF16 on AMD CPUs)
    precision: str = "auto"
    val_fraction: float = DEFAULT_VAL_FRACTION
    subset: int | None = None  # train on a stratified subset of this many training images
    augment_translate: int = 0
    augment_hflip: bool = False
    augment_rotation: float = 0.0
    augment_erasing: float = 0.0
    # Class-targeted augmentation: every epoch adds `augment_copies` augmented copies of each training image
    # of these classes; the originals stay as they are (as the classic "extra augmented copies" study did).
    augment_classes: tuple[int, ...] | None = None
    augment_copies: int = 1
    # Test-time augmentation: validation and test logits are the mean over the image and its mirror.
    # For left-right symmetric classes (clothes, CIFAR objects), not digits. Exports stay single-pass
    # unless `zoo export --tta` asks for the two-pass graph.
    test_time_flip: bool = False
    # torch.compile the model for training; pays off on GPUs, measured slower on a 2-core CPU
    # (benchmarks/RESULTS.md), hence off by default.
    compile: bool = False

    def __post_init__(self) -> None:
        # Every field against its declared rule (zoo/models/params.py), so TrainConfig(...) from Python is
        # checked
        # exactly like `--set` from the command line.
        for f in fields(self):
            check_value(f.name, getattr(self, f.name))
        if self.patience and self.val_fraction == 0:
            raise UsageError("early stopping (patience > 0) needs a validation split: set val_fraction > 0")
        if self.augment_classes is not None:
            self.augment_classes = tuple(int(c) for c in _as_tuple(self.augment_classes))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRAIN_KEYS = frozenset(f.name for f in fields(TrainConfig))


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def resolve(
    spec: ModelSpec, overrides: dict[str, Any] | None = None, dataset: str | None = None
) -> tuple[dict[str, Any], TrainConfig]:
    """Split `overrides` into architecture and training keys and apply them over the variant's defaults,
    checked for the run's dataset (`registry.resolve_dataset`: a dataset-agnostic variant needs one)."""
    model_over, train_over = {}, {}
    for key, value in (overrides or {}).items():
        if key in spec.hparams:
            model_over[key] = value
        elif key in TRAIN_KEYS:
            train_over[key] = value
        else:
            raise unknown_key(key, set(spec.hparams) | TRAIN_KEYS, spec.name)
    hparams = spec.hyperparameters(model_over)
    for key, value in hparams.items():
        check_value(key, value, spec.family)
    config = TrainConfig(**{**spec.train, **train_over})
    num_classes = num_classes_of(spec, dataset)
    check_classes(config.augment_classes, num_classes)
    # what the split needs (a subset with two images per class), refused here rather than after the work
    check_load_args(config.val_fraction, config.seed, config.subset, num_classes)
    return hparams, config


def default_for(spec: ModelSpec, key: str) -> Any:
    if key in spec.hparams:
        return spec.hparams[key]
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    if key in defaults:
        return spec.train.get(key, defaults[key])
    raise unknown_key(key, set(spec.hparams) | TRAIN_KEYS, spec.name)


def parse_value(text: str, like: Any, key: str) -> Any:
    """Parse `text` into the type of `like` (the default); tuples take comma-separated values."""
    try:
        if isinstance(like, bool):
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(like, tuple):
            items = [t for t in text.split(",") if t.strip()]
            element = like[0] if like else 0
            return tuple(parse_value(t, element, key) for t in items)
        if isinstance(like, int):
            # an int knob such as stride may also be given per block: "1,2"
            return tuple(int(t) for t in text.split(",")) if "," in text else int(text)
        if isinstance(like, float):
            return tuple(float(t) for t in text.split(",")) if "," in text else float(text)
        if like is None:  # subset (int) and augment_classes (ints) default to None
            if text.strip().lower() in ("", "none"):
                return None
            values = tuple(int(t) for t in text.split(","))
            return values if len(values) > 1 else values[0]
        return tuple(t.strip() for t in text.split(",")) if "," in text else text.strip()
    except ValueError:
        kind = "tuple" if isinstance(like, tuple) else type(like).__name__
        raise UsageError(f"cannot read {key}={text!r} as {kind}; e.g. --set {key}={_example(like)}") from None


def _example(like: Any) -> str:
    if isinstance(like, tuple):
        return ",".join(str(v) for v in like) or "1,2"
    return str(like).lower() if isinstance(like, bool) else str(like)


def parse_assignments(spec: ModelSpec, assignments: list[str]) -> dict[str, Any]:
    """`["lr=0.01", "filters=32,64"]` -> typed overrides, checked against the variant's keys."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        value = parse_value(text, default_for(spec, key), key)
        if isinstance(value, list):
            value = tuple(value)
        out[key] = value
    return out
