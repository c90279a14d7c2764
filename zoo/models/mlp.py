"""A multi-layer perceptron on flattened pixels."""

import math
from typing import Any

import torch
from torch import nn

from zoo.models import layers
from zoo.models.registry import ModelSpec, StepBudget, any_shape, register_model


class MLP(nn.Module):
    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        *,
        hidden: tuple[int, ...],
        activation: str,
        dropout,
        batch_norm: bool,
        init: str,
        input_side: int = 0,
    ):
        super().__init__()
        hidden = tuple(hidden) if isinstance(hidden, list | tuple) else (hidden,)
        dropouts = layers.per_layer(dropout, len(hidden), "dropout")
        channels, rows, cols = input_shape
        body: list[nn.Module] = []
        if input_side and max(rows, cols) > input_side:
            # a whole-factor average pool (floor) to at most input_side pixels per side
            kernel = (math.ceil(rows / input_side), math.ceil(cols / input_side))
            body.append(nn.AvgPool2d(kernel))
            rows, cols = rows // kernel[0], cols // kernel[1]
        body.append(nn.Flatten())
        width = channels * rows * cols
        for units, p_drop in zip(hidden, dropouts, strict=True):
            body.append(nn.Linear(width, units))
            if batch_norm:
                body.append(nn.BatchNorm1d(units))
            body.append(layers.activation(activation))
            if p_drop > 0:
                body.append(layers.dropout(p_drop))
            width = units
        self.features = nn.Sequential(*body)
        self.classifier = nn.Linear(width, num_classes)
        layers.init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_mlp(input_shape, num_classes, **hparams: Any) -> MLP:
    return MLP(input_shape, num_classes, **hparams)


MLP_DEFAULTS: dict[str, Any] = dict(
    hidden=(256, 128), activation="gelu", dropout=0.2, batch_norm=False, init="default"
)
MLP_RECIPE: dict[str, Any] = dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=10)


def fashion_mlp_space(trial) -> dict[str, Any]:
    n_layers = trial.suggest_int("layers", 2, 5)
    return dict(
        hidden=tuple(trial.suggest_int(f"units_{i + 1}", 32, 512, log=True) for i in range(n_layers)),
        dropout=trial.suggest_float("dropout", 0.0, 0.3),
        lr=trial.suggest_categorical("lr", [1e-3, 1e-4, 1e-5]),
    )


register_model(
    ModelSpec(
        name="fashion-mlp",
        family="mlp",
        dataset="fashion-mnist",
        builder=build_mlp,
        hparams=dict(MLP_DEFAULTS),
        train=dict(MLP_RECIPE),
        search_space=fashion_mlp_space,
        provenance="the dense baseline: 2-5 GELU layers of 32-512 units with dropout 0-0.3, "
        "Adam lr in {1e-3, 1e-4, 1e-5}",
    )
)

# Dataset-agnostic fashion-mlp. Its widths (256, 128; the space's 32-512) were chosen for 784 inputs; a 64x64
# colour image has 12,288, which would make the first layer 16x as large. So an image with a side over
# INPUT_SIDE is average-pooled by a whole factor first: the network sees at most 32x32 pixels per channel,
# and 28x28 and 32x32 images exactly as they are.
INPUT_SIDE = 32

register_model(
    ModelSpec(
        name="mlp",
        family="mlp",
        dataset=None,
        builder=build_mlp,
        hparams=dict(MLP_DEFAULTS, input_side=INPUT_SIDE),
        train=dict(MLP_RECIPE),
        step_budget=StepBudget(
            steps=4_210
        ),  # its 10 epochs of 421 steps on Fashion-MNIST (zoo/train/budget.py)
        search_space=any_shape(fashion_mlp_space),
        provenance="fashion-mlp for any dataset (`--dataset NAME`): 2-5 GELU layers of 32-512 units with "
        "dropout 0-0.3 on the pixels, images larger than 32x32 average-pooled to at most 32x32 first",
    )
)
