"""A multi-layer perceptron on flattened pixels."""

from typing import Any

import torch
from torch import nn

from zoo import layers
from zoo.registry import ModelSpec, register_model


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
    ):
        super().__init__()
        hidden = tuple(hidden) if isinstance(hidden, list | tuple) else (hidden,)
        dropouts = layers.per_layer(dropout, len(hidden), "dropout")
        width = input_shape[0] * input_shape[1] * input_shape[2]
        body: list[nn.Module] = [nn.Flatten()]
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
        hparams=dict(hidden=(256, 128), activation="gelu", dropout=0.2, batch_norm=False, init="default"),
        train=dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=10),
        search_space=fashion_mlp_space,
        provenance="the dense baseline: 2-5 GELU layers of 32-512 units with dropout 0-0.3, "
        "Adam lr in {1e-3, 1e-4, 1e-5}",
    )
)
