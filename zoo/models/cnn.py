"""A configurable CNN: conv blocks (conv, batch norm, activation, pool, dropout in either of two orders),
then dense layers."""

import math
from typing import Any

import torch
from torch import nn

from zoo.core.errors import UsageError
from zoo.models import layers
from zoo.models.machines import CPU_2C_EMR, GPU_H200
from zoo.models.registry import ModelSpec, Recorded, StepBudget, any_shape, register_model

PADDINGS = ("same", "valid")


class CNN(nn.Module):
    """`features` holds the conv blocks and `classifier` the dense head, so reports can find conv layers."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        *,
        filters: tuple[int, ...],
        kernel_size,
        stride,
        padding: str,
        activation: str,
        batch_norm: bool,
        dropout,
        pool_size,
        pool_type,
        dense_units: tuple[int, ...],
        dense_dropout,
        init: str,
        block_order: str = "conv-pool-bn-act",
        head_side: int = 0,
    ):
        super().__init__()
        filters = tuple(filters) if isinstance(filters, list | tuple) else (filters,)
        n_blocks = len(filters)
        if n_blocks == 0:
            raise UsageError("a CNN needs at least one conv block: give filters=N[,N...]")
        kernels = layers.per_layer(kernel_size, n_blocks, "kernel_size")
        strides = layers.per_layer(stride, n_blocks, "stride")
        dropouts = layers.per_layer(dropout, n_blocks, "dropout")
        pool_sizes = layers.per_layer(pool_size, n_blocks, "pool_size")
        pool_types = layers.per_layer(pool_type, n_blocks, "pool_type")
        if block_order not in layers.BLOCK_ORDERS:
            raise UsageError(
                f"unknown block_order {block_order!r}; choose one of: {', '.join(layers.BLOCK_ORDERS)}"
            )
        if padding not in PADDINGS:
            raise UsageError(f"unknown padding {padding!r}; choose one of: {', '.join(PADDINGS)}")
        dense_units = tuple(dense_units) if isinstance(dense_units, list | tuple) else (dense_units,)
        dense_dropouts = layers.per_layer(dense_dropout, len(dense_units), "dense_dropout")

        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        per_block = zip(filters, kernels, strides, dropouts, pool_sizes, pool_types, strict=True)
        for i, (out_ch, k, s, p_drop, p_size, p_type) in enumerate(per_block):
            pad = (k - 1) // 2 if padding == "same" else 0
            height, width = _conv_out(height, k, s, pad), _conv_out(width, k, s, pad)
            height, width = _pool_out(height, p_size), _pool_out(width, p_size)
            if height < 1 or width < 1:
                raise UsageError(
                    f"conv block {i + 1} shrinks the {input_shape[1]}x{input_shape[2]} input to nothing; "
                    "use fewer blocks, smaller kernels/strides/pools or padding=same"
                )
            conv = nn.Conv2d(channels, out_ch, k, stride=s, padding=pad, bias=not batch_norm)
            blocks.append(
                _conv_block(conv, batch_norm, activation, layers.pool(p_type, p_size), p_drop, block_order)
            )
            channels = out_ch
        self.features = nn.Sequential(*blocks)
        self.classifier = _dense_head(
            (channels, height, width), num_classes, dense_units, dense_dropouts, activation, head_side
        )
        layers.init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv_block(
    conv: nn.Conv2d, batch_norm: bool, activation: str, pooling: nn.Module, dropout: float, block_order: str
) -> nn.Sequential:
    """One block in `block_order`; the layers' positions are the state_dict's keys, so saved weights
    load only while this order stays as it is."""
    norm_act = [nn.BatchNorm2d(conv.out_channels)] if batch_norm else []
    norm_act.append(layers.activation(activation))
    block = [conv, pooling, *norm_act] if block_order == "conv-pool-bn-act" else [conv, *norm_act, pooling]
    if dropout > 0:
        block.append(layers.dropout(dropout))
    return nn.Sequential(*block)


def _dense_head(
    feature_shape: tuple[int, int, int],
    num_classes: int,
    dense_units: tuple[int, ...],
    dense_dropouts: tuple[float, ...],
    activation: str,
    head_side: int,
) -> nn.Sequential:
    """Flatten, the dense layers, then the logits, for the conv blocks' (C, H, W) output."""
    channels, height, width = feature_shape
    head: list[nn.Module] = []
    if head_side and max(height, width) > head_side:
        # A whole-factor average pool (floor, as the conv blocks' pools) brings the map to at most
        # head_side per side, so the dense head's width does not grow with the image.
        kernel = (math.ceil(height / head_side), math.ceil(width / head_side))
        head.append(nn.AvgPool2d(kernel))
        height, width = height // kernel[0], width // kernel[1]
    head.append(nn.Flatten())
    width_in = channels * height * width
    for units, p_drop in zip(dense_units, dense_dropouts, strict=True):
        head += [nn.Linear(width_in, units), layers.activation(activation)]
        if p_drop > 0:
            head.append(layers.dropout(p_drop))
        width_in = units
    head.append(nn.Linear(width_in, num_classes))
    return nn.Sequential(*head)


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _pool_out(size: int, pool_size: int) -> int:
    return size // pool_size if pool_size > 1 else size


def build_cnn(input_shape, num_classes, **hparams: Any) -> CNN:
    return CNN(input_shape, num_classes, **hparams)


CNN_DEFAULTS: dict[str, Any] = dict(
    filters=(64, 32),
    kernel_size=(3, 2),
    stride=1,
    padding="same",
    activation="relu",
    batch_norm=True,
    dropout=0.2,
    pool_size=2,
    pool_type="max",
    dense_units=(128,),
    dense_dropout=0.2,
    init="default",
    block_order="conv-pool-bn-act",
)


def fashion_cnn_space(trial) -> dict[str, Any]:
    """The block knobs, the dense head and the optimiser; define-by-run so block count drives the rest.

    Sized so `zoo tune fashion-cnn --trials 30` (trials and retraining) fits in 10 minutes on 2 CPU cores
    (RESULTS.md, issue 29). Block 2 runs at 14x14 on block 1's channels, so the product of the first two
    widths is most of a model's cost: its widest point is 1.5x fashion-cnn-fast per image. Left out, each
    measured to cost much and win little in 30 short trials: 5x5 and 2x2 kernels, tanh, no batch norm,
    SGD, batch 64 (twice the steps), a second dense layer; horizontal flips are the retraining's (they pay
    only over many epochs, see `retrain` below)."""
    return _cnn_space(trial, max_blocks=3)


def any_cnn_space(trial, input_shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """fashion-cnn's space for any input. Each block halves the image (3x3 convs, same padding, 2x2
    pools), so n blocks need a side of at least 2**n: a small image gets fewer blocks (3 from 8x8 up, as
    on 28x28), never one pooled down to nothing. The head stays bounded by the variant's head_side.
    The trial costs grow with the image area: the 10-minute figure is fashion-cnn's, on 28x28."""
    if input_shape is None:
        return _cnn_space(trial, max_blocks=3)
    side = min(input_shape[1:])
    return _cnn_space(trial, max_blocks=max(1, min(3, side.bit_length() - 1)))


def _cnn_space(trial, max_blocks: int) -> dict[str, Any]:
    n_blocks = trial.suggest_int("conv_blocks", min(2, max_blocks), max_blocks)
    widths = ([16, 32], [32, 64], [64])
    filters = tuple(trial.suggest_categorical(f"filters_{i + 1}", widths[i]) for i in range(n_blocks))
    n_dense = trial.suggest_int("dense_layers", 0, 1)
    return dict(
        filters=filters,
        kernel_size=3,
        stride=1,
        activation=trial.suggest_categorical("activation", ["relu", "gelu"]),
        batch_norm=True,
        dropout=trial.suggest_float("dropout", 0.0, 0.3),
        pool_type=trial.suggest_categorical("pool_type", ["max", "avg"]),
        pool_size=2,
        dense_units=tuple(
            trial.suggest_categorical(f"dense_units_{i + 1}", [128, 256]) for i in range(n_dense)
        ),
        dense_dropout=trial.suggest_float("dense_dropout", 0.0, 0.5),
        init=trial.suggest_categorical("init", ["default", "glorot"]),
        optimizer=trial.suggest_categorical("optimizer", ["adam", "adamw"]),
        lr=trial.suggest_float("lr", 1e-3, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [128, 256]),
    )


def fast_recipe_space(trial) -> dict[str, Any]:
    """fashion-cnn-fast keeps its architecture and tunes its short recipe: every point of this space is
    the same 32-64 CNN, so even a few cheap trials end in a model worth retraining (`make demo`)."""
    return dict(
        lr=trial.suggest_float("lr", 1e-3, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [64, 128, 256]),
        optimizer=trial.suggest_categorical("optimizer", ["adam", "adamw"]),
        dense_dropout=trial.suggest_float("dense_dropout", 0.0, 0.3),
    )


def air_recipe_space(trial) -> dict[str, Any]:
    """fashion-cnn-air keeps its network and tunes its large-batch recipe (batches of 512-2048 all reached
    94% within 16 epochs on one H200)."""
    return dict(
        lr=trial.suggest_float("lr", 2e-3, 2e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [512, 1024, 2048]),
        label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2),
    )


def small_cnn_space(trial) -> dict[str, Any]:
    """For the classic small CNNs: keep the architecture, tune the optimiser and regularisation."""
    return dict(
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
    )


# The recipe measured fastest to 92% on 2 CPU cores (benchmarks/RESULTS.md).
CNN_RECIPE: dict[str, Any] = dict(optimizer="adam", lr=3e-3, batch_size=128, epochs=10, schedule="onecycle")
# The winner's retraining: 15 one-cycle epochs with horizontal flips, each test image averaged with its
# mirror; 3-epoch trials cannot see flips pay, so the search leaves them to it. 20 epochs or all 60,000
# images instead of 54,000 measured no better (RESULTS.md, issue 29).
CNN_RETRAIN: dict[str, Any] = dict(epochs=15, augment_hflip=True, test_time_flip=True)
# fashion-cnn-fast: no dropout, since a run of a few epochs does not overfit, and dropout cost both accuracy
# and 15-20% of the step time (RESULTS.md: 92% in 43.7 s instead of 86.8 s on cpu-2c-emr).
CNN_FAST: dict[str, Any] = dict(CNN_DEFAULTS, filters=(32, 64), kernel_size=3, dropout=0.0, dense_dropout=0.0)
# A fixed schedule needs no early stopping, so the recipe trains on the whole training set; tune it with
# --set val_fraction=0.1 (tuning scores trials on a validation split).
CNN_FAST_RECIPE: dict[str, Any] = dict(
    optimizer="adam", lr=3e-3, batch_size=128, epochs=3, schedule="onecycle", val_fraction=0.0
)

register_model(
    ModelSpec(
        name="fashion-cnn",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(CNN_DEFAULTS),
        train=dict(CNN_RECIPE),
        budgets={
            # The classic ablation study's own budget: Keras' Adam (lr 1e-3, constant) with early stopping
            # on the validation loss, patience 20 (it converged in about 90 epochs).
            "published": dict(
                schedule="none",
                lr=1e-3,
                epochs=200,
                patience=20,
                val_fraction=0.1,
                block_order="conv-bn-act-pool",  # the study's blocks: conv, batch norm, activation, pool
            ),
            # What zoo's first classic ablation ran (benchmarks/RESULTS.md): 3 one-cycle epochs.
            "short": dict(epochs=3),
        },
        search_space=fashion_cnn_space,
        retrain=dict(CNN_RETRAIN),
        provenance="zoo's main tunable CNN: two conv blocks (64@3x3, 32@2x2) with batch norm, "
        "dropout 0.2 and "
        "2x2 max pooling, the common Fashion-MNIST starting point; its search space covers the block knobs "
        "that pay within a 10-minute study on 2 CPU cores. "
        "Its recipe is zoo's fast one (10 one-cycle epochs), shorter than the classic ablation study's: "
        "`--budget published` is that study's (Adam 1e-3, early stopping with patience 20)",
    )
)

register_model(
    ModelSpec(
        name="fashion-cnn-fast",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(CNN_FAST),
        train=dict(CNN_FAST_RECIPE),
        search_space=fast_recipe_space,
        provenance="zoo's time-to-accuracy recipe: fashion-cnn's blocks at 32@3x3 then 64@3x3 (the same cost "
        "per epoch, more accurate) without dropout, one-cycle Adam for 3 epochs on the whole training set",
        recorded=Recorded(
            test_accuracy=0.9237,
            std=0.0016,
            seeds=3,
            epochs=3,
            batch_size=128,
            train_seconds=43.7,
            machine=CPU_2C_EMR,
            date="2026-11-24",
            command="benchmarks/time_to_accuracy.py fashion-cnn-fast --seeds 3",
        ),
    )
)

# GPU time to accuracy, after airbench (Jordan 2024): a 64-channel stem, then three stages of two 256-channel
# convs at 14x14, 7x7 and 3x3, no dense layer; 2M parameters, large batches (benchmarks/RESULTS.md, issue 28).
CNN_AIR: dict[str, Any] = dict(
    CNN_DEFAULTS,
    filters=(64, 64, 256, 256, 256, 256),
    pool_size=(2, 1, 2, 1, 2, 1),
    kernel_size=3,
    dropout=0.0,
    dense_units=(),
    dense_dropout=0.0,
)
CNN_AIR_RECIPE: dict[str, Any] = dict(
    CNN_FAST_RECIPE,
    lr=6e-3,
    batch_size=1024,
    epochs=14,
    label_smoothing=0.1,
    augment_hflip=True,
    augment_translate=2,
    test_time_flip=True,
)

register_model(
    ModelSpec(
        name="fashion-cnn-air",
        family="cnn",
        dataset="fashion-mnist",
        builder=build_cnn,
        hparams=dict(CNN_AIR),
        train=dict(CNN_AIR_RECIPE),
        search_space=air_recipe_space,
        provenance="zoo's GPU time-to-accuracy recipe, after airbench (Jordan 2024, CIFAR-10 in seconds): "
        "64 then 4x256 channels, flips and 2-pixel shifts, label smoothing, one-cycle Adam at batch 1024 for "
        "14 epochs on the whole training set, flip-averaged test; 94% in 3.7 s on one H200. On 2 CPU cores "
        "an epoch takes minutes: use fashion-cnn-fast there",
        recorded=Recorded(
            test_accuracy=0.9435,
            std=0.0006,
            seeds=3,
            epochs=14,
            batch_size=1024,
            train_seconds=4.7,
            machine=GPU_H200,
            date="2026-11-30",
            command="benchmarks/time_to_accuracy.py fashion-cnn-air --seeds 3 (as --set on fashion-cnn-fast)",
        ),
    )
)

# The PyTorch examples MNIST net (also the base of mnist-cnn-l2 in classic.py).
MNIST_CNN: dict[str, Any] = dict(
    CNN_DEFAULTS,
    filters=(10, 20),
    kernel_size=5,
    padding="valid",
    batch_norm=False,
    dropout=(0.0, 0.5),
    dense_units=(50,),
    dense_dropout=0.5,
)

register_model(
    ModelSpec(
        name="mnist-cnn",
        family="cnn",
        dataset="mnist",
        builder=build_cnn,
        hparams=dict(MNIST_CNN),
        train=dict(optimizer="adam", lr=1e-3, batch_size=100, epochs=10),
        search_space=small_cnn_space,
        provenance="the PyTorch examples MNIST net: conv 10@5x5, max pool, conv 20@5x5 + dropout, "
        "dense 50, 10 outputs",
    )
)

register_model(
    ModelSpec(
        name="cifar10-cnn",
        family="cnn",
        dataset="cifar10",
        builder=build_cnn,
        hparams=dict(
            CNN_DEFAULTS,
            filters=(12, 24),
            kernel_size=5,
            padding="valid",
            batch_norm=False,
            dropout=0.0,
            dense_units=(120, 84),
            dense_dropout=0.0,
        ),
        train=dict(optimizer="sgd-momentum", lr=1e-3, weight_decay=1e-4, batch_size=32, epochs=10),
        search_space=small_cnn_space,
        provenance="the PyTorch CIFAR-10 tutorial net widened: conv 3->12@5x5, pool, conv 12->24@5x5, pool, "
        "dense 600->120->84->10; SGD momentum 0.9, weight decay 1e-4",
    )
)

# Dataset-agnostic: fashion-cnn and fashion-cnn-fast for whatever dataset a run names (`--dataset NAME`).
# Their dense head was sized for the 7x7 map two pooled blocks leave of a 28x28 image; on a larger image it
# would grow with the area (a 64x64 image: 4x the weights), so the map is average-pooled to at most
# HEAD_SIDE per side first. 8 leaves 28x28 (7x7) and 32x32 (8x8) images exactly as the presets build them.
HEAD_SIDE = 8

register_model(
    ModelSpec(
        name="cnn",
        family="cnn",
        dataset=None,
        builder=build_cnn,
        hparams=dict(CNN_DEFAULTS, head_side=HEAD_SIDE),
        train=dict(CNN_RECIPE),
        step_budget=StepBudget(
            steps=4_210
        ),  # its 10 epochs of 421 steps on Fashion-MNIST (zoo/train/budget.py)
        search_space=any_cnn_space,
        retrain=dict(CNN_RETRAIN),
        provenance="fashion-cnn for any dataset (`--dataset NAME`): its two conv blocks (64@3x3, 32@2x2) "
        "with batch norm, dropout 0.2 and 2x2 max pooling, its recipe and search space (fewer blocks for "
        "images under 8x8), the map pooled to at most 8x8 before the dense head; its retraining adds "
        "horizontal flips, as for most photos (for digits or text: --set augment_hflip=false)",
    )
)

register_model(
    ModelSpec(
        name="cnn-fast",
        family="cnn",
        dataset=None,
        builder=build_cnn,
        hparams=dict(CNN_FAST, head_side=HEAD_SIDE),
        train=dict(CNN_FAST_RECIPE),
        step_budget=StepBudget(steps=1_404),  # 3 epochs of 468 steps (all 60,000 Fashion-MNIST images)
        search_space=any_shape(fast_recipe_space),
        provenance="fashion-cnn-fast for any dataset (`--dataset NAME`): 32@3x3 then 64@3x3 without "
        "dropout, one-cycle Adam for 3 epochs on the whole training set, the map pooled to at most 8x8 "
        "before the dense head",
    )
)
