"""Building blocks shared by the model families: activations, pooling and init chosen by name."""

import torch
from torch import nn

from zoo.errors import UsageError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "elu": nn.ELU,
}
POOL_TYPES = ("max", "avg", "min")
INITS = ("default", "glorot")


def _check_choice(kind: str, value: str, choices) -> None:
    if value not in choices:
        raise UsageError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")


def activation(name: str) -> nn.Module:
    _check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


class MinPool2d(nn.Module):
    """Min pooling as -maxpool(-x): exports to ONNX as Neg/MaxPool/Neg, no custom op."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.pool(-x)


def pool(pool_type: str, size: int) -> nn.Module:
    _check_choice("pool type", pool_type, POOL_TYPES)
    if size <= 1:
        return nn.Identity()
    if pool_type == "max":
        return nn.MaxPool2d(size)
    if pool_type == "avg":
        return nn.AvgPool2d(size)
    return MinPool2d(size)


def init_weights(model: nn.Module, scheme: str) -> None:
    """`glorot` = Keras' default (Glorot uniform weights, zero biases); `default` keeps PyTorch's."""
    _check_choice("init", scheme, INITS)
    if scheme == "default":
        return
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def per_layer(value, count: int, name: str) -> tuple:
    """Accept one value for every layer or exactly one value per layer."""
    if isinstance(value, list | tuple):
        if len(value) != count:
            raise UsageError(f"{name} has {len(value)} values for {count} layers; give one value or {count}")
        return tuple(value)
    return (value,) * count
