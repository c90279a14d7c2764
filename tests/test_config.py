import pytest

from zoo.core.errors import UsageError
from zoo.models.registry import get_spec
from zoo.train.config import TrainConfig, parse_assignments, resolve


def test_assignments_are_typed_by_the_defaults():
    spec = get_spec("fashion-cnn")
    got = parse_assignments(
        spec,
        [
            "lr=0.01",
            "filters=32,64",
            "batch_norm=false",
            "epochs=3",
            "activation=gelu",
            "dropout=0.1",
            "augment_classes=2,6",
            "subset=500",
        ],
    )
    assert got == {
        "lr": 0.01,
        "filters": (32, 64),
        "batch_norm": False,
        "epochs": 3,
        "activation": "gelu",
        "dropout": 0.1,
        "augment_classes": (2, 6),
        "subset": 500,
    }
    hparams, config = resolve(spec, got)
    assert hparams["filters"] == (32, 64)
    assert config.lr == 0.01 and config.augment_classes == (2, 6)


@pytest.mark.parametrize(
    "item, message",
    [
        ("lr", "key=value"),
        ("nope=1", "not a hyperparameter"),
        ("epochs=three", "cannot read epochs"),
        ("batch_norm=maybe", "cannot read batch_norm"),
        ("filters=a,b", "cannot read filters"),
    ],
)
def test_bad_assignments(item, message):
    with pytest.raises(UsageError, match=message):
        parse_assignments(get_spec("fashion-cnn"), [item])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "rmsprop"}, "optimizer=rmsprop is not allowed: optimizer takes one of sgd"),
        ({"schedule": "step"}, "schedule=step is not allowed: schedule takes one of none"),
        ({"epochs": 0}, r"epochs=0 is not allowed: epochs takes an integer in \[1, 10000\]"),
        ({"lr": -1.0}, r"lr=-1.0 is not allowed: lr takes a number > 0"),
        ({"patience": 2, "val_fraction": 0.0}, "needs a validation split"),
    ],
)
def test_train_config_validation(kwargs, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**kwargs)
