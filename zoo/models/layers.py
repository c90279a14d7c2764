"""Building blocks shared by the model families: activations, pooling and init chosen by name."""

import torch
from torch import nn

from zoo.core.errors import UsageError

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
# zoo's fast order pools straight after the conv, so batch norm, activation and dropout touch 4x fewer values
# (most of a small CNN's CPU time). It is the same function as the classic order only for max pooling with a
# monotonic activation and no batch norm (or batch norm with positive scales); for average or min pooling,
# batch norm, or a non-monotonic activation (gelu, silu) it is another layer. The classic studies use
# conv -> batch norm -> activation -> pool, so their reproductions do too.
BLOCK_ORDERS = ("conv-pool-bn-act", "conv-bn-act-pool")


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


class FastDropout(nn.Dropout):
    """Dropout whose CPU mask costs a third of `nn.Dropout`'s.

    On the CPU, `bernoulli_` draws one random number per element and was a third of a small CNN's
    training step. Here one 64-bit draw gives eight 1-byte uniform values, so p is rounded to a
    multiple of 1/256 (0.2 -> 0.1992) and the kept values are rescaled by the exact 1/(1-p) of the
    rounded p. Elsewhere (CUDA, eval, export) it is plain `nn.Dropout`, so exported graphs are unchanged.

    The draws must cover all 2**64 values, or some byte is not uniform: `randint(-2**62, 2**62)` left
    the top byte of each draw in 0x00-0x3F or 0xC0-0xFF, so every eighth value was dropped at twice
    the rate (tests/test_layers.py measures the rate per byte position and per channel).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threshold = round(self.p * 256)
        if not self.training or x.device.type != "cpu" or not 0 < threshold < 256 or x.dim() not in (2, 4):
            return super().forward(x)
        n = x.numel()
        # `random_` from int64's minimum with no upper bound is the full 64-bit range (and is faster).
        draws = torch.empty((n + 7) // 8, dtype=torch.int64).random_(-(2**63), None)
        uniform = draws.view(torch.uint8)[:n]
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            b, c, h, w = x.shape
            uniform = uniform.view(b, h, w, c).permute(0, 3, 1, 2)  # same memory order as x
        else:
            uniform = uniform.view(x.shape)
        scale = 256.0 / (256 - threshold)
        return x * torch.where(uniform >= threshold, scale, 0.0).to(x.dtype)


def dropout(p: float) -> nn.Module:
    return FastDropout(p)


class FlipAveraged(nn.Module):
    """Test-time augmentation: the mean of the logits of each image and of its left-right mirror.

    One module, so evaluation and `zoo export --tta` run the same two passes (the export is one graph).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + self.model(x.flip(-1))) / 2


def per_layer(value, count: int, name: str) -> tuple:
    """Accept one value for every layer or exactly one value per layer."""
    if isinstance(value, list | tuple):
        if len(value) != count:
            raise UsageError(f"{name} has {len(value)} values for {count} layers; give one value or {count}")
        return tuple(value)
    return (value,) * count
