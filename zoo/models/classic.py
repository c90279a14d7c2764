"""The classic Fashion-MNIST / MNIST studies people reproduce by hand, as registered variants.

Each entry names what it reproduces. They reuse the CNN and MLP families; only defaults, recipes and
search spaces differ. All use logits + cross-entropy (the same as log-softmax + NLL loss), never a softmax
before the loss, and are tested on the test split, never on the training set.
"""

from typing import Any

from zoo.models.cnn import CNN_DEFAULTS, MNIST_CNN, build_cnn
from zoo.models.machines import CPU_2C, CPU_2C_EPYC_1T
from zoo.models.mlp import build_mlp
from zoo.models.registry import ModelSpec, Recorded, register_model


def _reproduced(
    accuracy: float,
    std: float,
    *,
    epochs: int,
    batch_size: int,
    seconds: float,
    machine: str = CPU_2C,
    date: str = "2026-11-23",
    seeds: int = 3,
    command: str = "benchmarks/reproduce.py",
) -> Recorded:
    """A row of the reproduction tables in benchmarks/RESULTS.md: the variant's own recipe, seeds 0..K-1."""
    return Recorded(
        test_accuracy=accuracy,
        std=std,
        seeds=seeds,
        epochs=epochs,
        batch_size=batch_size,
        train_seconds=seconds,
        machine=machine,
        date=date,
        command=command,
    )


# Re-measured after the dropout fix (issue 24; benchmarks/RESULTS.md, "Dropout fixed"): every figure below
# with dropout was first measured with a mask that dropped every eighth value twice as often. Seeds 0, 1
# and 2 where all three have run (mean ± std, the median seed's seconds), else seed 0; one core and one
# thread each. Seed 0's runs are the shipped weights (same recipe).
_FIXED = dict(seeds=1, machine=CPU_2C_EPYC_1T, date="2026-11-30", command="benchmarks/reproduce.py --seeds 1")
_FIXED_3 = dict(_FIXED, seeds=3, command="benchmarks/reproduce.py --first-seed K --seeds 1, K = 0, 1, 2")


def _study_budget(
    accuracy: float, *, seconds: float, batch_size: int = 32, std: float | None = None
) -> Recorded:
    """A row of "Dropout fixed" in benchmarks/RESULTS.md at the published budget (at most 100 epochs,
    early stopping with patience 10), on one core and one thread: seeds 0-2 when `std` is given, else
    seed 0."""
    seeds = _FIXED if std is None else _FIXED_3
    return _reproduced(accuracy, std or 0.0, epochs=100, batch_size=batch_size, seconds=seconds, **seeds)


def grid_space(grid: dict[str, list]):
    """A search space that is exactly a grid: TPE/random draw from the points `--sampler grid` runs."""

    def space(trial) -> dict[str, Any]:
        return {key: trial.suggest_categorical(key, values) for key, values in grid.items()}

    return space


def _regularisation_space(trial) -> dict[str, Any]:
    return dict(
        dense_dropout=trial.suggest_float("dense_dropout", 0.0, 0.6),
        lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
    )


# Two conv layers with pooling and two dense hidden layers, as in the Keras tutorials these come from.
# The Keras studies these reproduce build each block as conv -> (batch norm) -> activation -> pool.
_CLASSIC_CNN = dict(CNN_DEFAULTS, block_order="conv-bn-act-pool")

_TWO_CONV = dict(
    _CLASSIC_CNN,
    filters=(32, 64),
    kernel_size=3,
    padding="valid",
    batch_norm=False,
    dropout=0.0,
    dense_units=(128, 64),
    dense_dropout=0.0,
    init="glorot",
)

register_model(
    ModelSpec(
        name="fashion-cnn-baseline",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(_TWO_CONV),
        train=dict(optimizer="sgd", lr=1e-3, batch_size=64, epochs=20),
        search_space=_regularisation_space,
        provenance="classic unregularised baseline: 2 conv layers (32, 64 @3x3) + max pooling, dense 128-64, "
        "no regularisation, plain SGD lr 1e-3, 20 epochs, negative log-likelihood loss",
        recorded=_reproduced(0.8337, 0.0062, epochs=20, batch_size=64, seconds=78),
    )
)

register_model(
    ModelSpec(
        name="fashion-cnn-better",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(_TWO_CONV, dense_dropout=(0.5, 0.5)),
        train=dict(optimizer="adam", lr=1e-4, batch_size=64, epochs=40),
        search_space=_regularisation_space,
        provenance="the baseline improved: dropout 0.5 on both dense hidden layers (not the output), "
        "Adam lr 1e-4, 40 epochs",
        recorded=_reproduced(0.9069, 0.0012, epochs=40, batch_size=64, seconds=553, **_FIXED_3),
    )
)

CNN2_GRID = {"lr": [0.01, 0.001], "epochs": [5, 10], "dropout": [0.3, 0.5], "optimizer": ["adam", "sgd"]}

register_model(
    ModelSpec(
        name="fashion-cnn2-grid",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(
            _CLASSIC_CNN,
            filters=(32, 64),
            kernel_size=3,
            batch_norm=False,
            dropout=0.3,
            dense_units=(128,),
            dense_dropout=0.3,
        ),
        train=dict(optimizer="adam", lr=1e-3, batch_size=64, epochs=10),
        search_space=grid_space(CNN2_GRID),
        grid=CNN2_GRID,
        provenance="the classic manual grid search: 2 conv layers, max pooling, dropout, dense layers; "
        "lr {0.01, 0.001} x epochs {5, 10} x dropout {0.3, 0.5} x optimizer {Adam, SGD}",
    )
)


def _mlp4_space(trial) -> dict[str, Any]:
    return dict(
        dropout=(trial.suggest_float("dropout", 0.0, 0.5), 0.0, 0.0, 0.0),
        lr=trial.suggest_float("lr", 1e-5, 1e-3, log=True),
    )


def _optimiser_space(trial) -> dict[str, Any]:
    return dict(
        lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
    )


# The budget of the classic MLP and 3-block CNN studies: Adam lr 1e-4 (Keras' defaults otherwise), at most
# 100 epochs, early stopping on the validation loss with patience 10 (best weights restored), 20% held out.
_STUDY_BUDGET = dict(optimizer="adam", lr=1e-4, epochs=100, val_fraction=0.2, patience=10)
# The MLP study states no batch size, so Keras' default, 32 (zoo first used 128: the same accuracy within
# the seed spread, benchmarks/RESULTS.md).
_KERAS_BATCH = 32

# One extra augmented copy (rotation, shifts, flips) of every image of the two most confused classes,
# Pullover and Shirt, as the classic augmentation study did; zoom is approximated by shifts.
_PULLOVER_SHIRT_COPIES = dict(
    augment_classes=(2, 6), augment_copies=1, augment_rotation=10.0, augment_translate=2, augment_hflip=True
)

_MLP4 = dict(
    hidden=(448, 32, 32, 32),
    activation="gelu",
    dropout=(0.3, 0.0, 0.0, 0.0),
    batch_norm=False,
    init="default",
)

register_model(
    ModelSpec(
        name="fashion-mlp4",
        family="mlp",
        dataset="fashion-mnist",
        builder=build_mlp,
        hparams=dict(_MLP4),
        train=dict(_STUDY_BUDGET, batch_size=_KERAS_BATCH),
        search_space=_mlp4_space,
        provenance="dense 448-32-32-32 GELU, dropout 0.3 after the first layer only, Adam lr 1e-4, "
        "20% validation split, early stopping on validation loss with patience 10, up to 100 epochs, "
        "batch 32 (the published budget; the study states no batch size, so Keras' default)",
        recorded=_study_budget(0.8915, seconds=310, std=0.0009),
    )
)

register_model(
    ModelSpec(
        name="fashion-mlp4-aug",
        family="mlp",
        dataset="fashion-mnist",
        builder=build_mlp,
        hparams=dict(_MLP4),
        train=dict(_STUDY_BUDGET, batch_size=_KERAS_BATCH, **_PULLOVER_SHIRT_COPIES),
        search_space=_mlp4_space,
        provenance="fashion-mlp4 trained with one extra augmented copy (rotation, shifts, flips) of every "
        "Pullover and Shirt image, at the published budget; zoom is approximated by shifts",
        recorded=_study_budget(0.8871, seconds=556, std=0.0016),
    )
)


def _cnn3_space(trial) -> dict[str, Any]:
    return dict(
        filters=(
            trial.suggest_categorical("filters_1", [16, 32]),
            trial.suggest_categorical("filters_2", [32, 64]),
            trial.suggest_categorical("filters_3", [64, 128]),
        ),
        kernel_size=tuple(trial.suggest_categorical(f"kernel_{i}", [3, 4]) for i in (1, 2, 3)),
        dropout=(0.0, trial.suggest_float("dropout_2", 0.0, 0.4), trial.suggest_float("dropout_3", 0.0, 0.4)),
        dense_units=(trial.suggest_int("dense_units", 128, 512, step=64),),
        dense_dropout=trial.suggest_float("dense_dropout", 0.0, 0.4),
        lr=trial.suggest_categorical("lr", [1e-3, 1e-4]),
    )


_CNN3 = dict(
    _CLASSIC_CNN,
    filters=(16, 32, 128),
    kernel_size=3,
    batch_norm=False,
    dropout=(0.0, 0.2, 0.4),
    dense_units=(128,),
    dense_dropout=0.2,
)

# The recipe zoo first registered: 30 epochs without early stopping, which ends before the study's budget.
_CNN3_SHORT = dict(epochs=30, val_fraction=0.1, patience=0)

register_model(
    ModelSpec(
        name="fashion-cnn3",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(_CNN3),
        train=dict(_STUDY_BUDGET, batch_size=64),
        budgets={"short": _CNN3_SHORT},
        search_space=_cnn3_space,
        provenance="3 conv blocks with max pooling at its tuned point: 16@3x3, 32@3x3 + dropout 0.2, "
        "128@3x3 + dropout 0.4, dense 128 + dropout 0.2, Adam lr 1e-4, up to 100 epochs with early stopping "
        "(patience 10, 20% validation; the published budget); `--budget short` is 30 epochs",
        recorded=_study_budget(0.9220, seconds=1283, batch_size=64, std=0.0010),
    )
)

register_model(
    ModelSpec(
        name="fashion-cnn3-aug",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(_CNN3),
        train=dict(_STUDY_BUDGET, batch_size=64, **_PULLOVER_SHIRT_COPIES),
        budgets={"short": _CNN3_SHORT},
        search_space=_cnn3_space,
        provenance="fashion-cnn3 trained with one extra augmented copy (rotation, shifts, flips) of every "
        "image of the two most confused classes, Pullover and Shirt, at the published budget; zoom is "
        "approximated by shifts; `--budget short` is 30 epochs",
        recorded=_study_budget(0.9213, seconds=2083, batch_size=64, std=0.0027),
    )
)

register_model(
    ModelSpec(
        name="mnist-cnn-l2",
        family="cnn",
        dataset="mnist",
        builder=build_cnn,
        hparams=dict(MNIST_CNN),
        train=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, batch_size=100, epochs=10),
        search_space=_optimiser_space,
        provenance="mnist-cnn with L2 regularisation (weight decay 1e-4)",
    )
)
