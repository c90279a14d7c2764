"""What the shared layers compute: dropout's keep rate per position and per channel, its mean, pooling."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.models.layers import FastDropout, MinPool2d

# A rate measured over n draws is within SIGMAS binomial standard deviations of p with probability
# 1 - 6e-7 (per check); the broken dropout's byte-7 rate was 0.40 against 0.20, hundreds of sigmas off.
SIGMAS = 5.0


def _tolerance(p: float, n: int) -> float:
    return SIGMAS * math.sqrt(p * (1 - p) / n)


def _drop_mask(p: float, shape, channels_last: bool = False, repeats: int = 1) -> torch.Tensor:
    layer = FastDropout(p).train()
    masks = []
    for _ in range(repeats):
        x = torch.ones(shape)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        masks.append(layer(x) == 0)
    return torch.stack(masks)


def _rounded(p: float) -> float:
    return round(p * 256) / 256


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.8])
def test_drop_rate_is_the_same_at_every_byte_position(p):
    torch.manual_seed(0)
    dropped = _drop_mask(p, (4096, 128), repeats=2).reshape(-1, 8)  # column = position in a 64-bit draw
    rates = dropped.float().mean(0)
    tol = _tolerance(_rounded(p), dropped.shape[0])
    assert (rates - _rounded(p)).abs().max() < tol, rates


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_drop_rate_is_the_same_in_every_channel(p, channels_last):
    torch.manual_seed(1)
    dropped = _drop_mask(p, (64, 32, 14, 14), channels_last=channels_last, repeats=2)
    per_channel = dropped.float().mean(dim=(0, 1, 3, 4))
    n = dropped.numel() // 32
    assert (per_channel - _rounded(p)).abs().max() < _tolerance(_rounded(p), n), per_channel


def test_masks_of_neighbouring_values_are_independent():
    """Adjacent bytes of one draw must not move together: P(both dropped) = p^2."""
    torch.manual_seed(2)
    p = _rounded(0.5)
    dropped = _drop_mask(0.5, (2048, 256)).reshape(-1, 2).float()
    both = (dropped[:, 0] * dropped[:, 1]).mean().item()
    assert abs(both - p * p) < _tolerance(p * p, dropped.shape[0])


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_expected_output_equals_the_input(p):
    """Inverted dropout: E[dropout(x)] = x for each element, so training sees what evaluation sees."""
    torch.manual_seed(3)
    layer = FastDropout(p).train()
    x = torch.linspace(-2, 2, 64).repeat(16, 1).contiguous()
    draws = 4000
    total = torch.zeros_like(x)
    for _ in range(draws):
        total += layer(x)
    mean = total / draws
    keep = 1 - _rounded(p)
    # Each output is x/keep with probability keep, else 0: its variance is x^2 (1-keep)/keep.
    std = x.abs() * math.sqrt((1 - keep) / keep / draws)
    assert ((mean - x).abs() <= SIGMAS * std + 1e-6).all()


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(0.01, 0.95),
    shape=st.sampled_from([(3, 5), (7, 130), (2, 3, 5, 7), (4, 16, 6, 6), (1, 8, 1, 1)]),
    channels_last=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_output_is_zero_or_the_input_rescaled(p, shape, channels_last, seed):
    torch.manual_seed(seed)
    x = torch.randn(shape) + 3  # no zeros in the input, so a zero output means "dropped"
    if channels_last and len(shape) == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    layer = FastDropout(p).train()
    out = layer(x)
    threshold = round(p * 256)
    scale = 256 / (256 - threshold) if 0 < threshold < 256 else 1 / (1 - p)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] * scale, rtol=1e-6)
    assert out.shape == x.shape


def test_evaluation_is_the_identity():
    x = torch.randn(8, 16)
    assert torch.equal(FastDropout(0.5).eval()(x), x)


@given(st.lists(st.floats(-1e3, 1e3, width=32, allow_subnormal=False), min_size=4, max_size=4))
def test_min_pool_is_the_minimum_of_each_window(values):
    x = torch.tensor(values).view(1, 1, 2, 2)
    assert MinPool2d(2)(x).item() == min(values)


# ------------------------------------------------------------------ CNN block order


def _cnn(block_order: str, **changes):
    from zoo.models.cnn import CNN_DEFAULTS, build_cnn

    torch.manual_seed(0)
    hparams = dict(CNN_DEFAULTS, dropout=0.0, dense_dropout=0.0, block_order=block_order, **changes)
    return build_cnn((1, 28, 28), 10, **hparams).eval()


def _same_function(changes: dict) -> bool:
    fast, classic = _cnn("conv-pool-bn-act", **changes), _cnn("conv-bn-act-pool", **changes)
    classic.load_state_dict(_renumbered(fast.state_dict(), classic.state_dict()))
    for module in classic.modules():  # batch norm with a negative scale: where max pool and BN differ
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.copy_(torch.linspace(-1, 1, module.num_features))
    for module in fast.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.copy_(torch.linspace(-1, 1, module.num_features))
    x = torch.randn(4, 1, 28, 28)
    return torch.allclose(fast(x), classic(x), atol=1e-5)


def _renumbered(source: dict, target: dict) -> dict:
    """The same tensors under the other order's names (the layers' positions in each block differ)."""
    assert [v.shape for v in source.values()] == [v.shape for v in target.values()]
    return dict(zip(target, source.values(), strict=True))


def test_the_two_block_orders_agree_only_where_pooling_commutes():
    assert _same_function(dict(batch_norm=False, pool_type="max", activation="relu"))
    assert not _same_function(dict(batch_norm=False, pool_type="avg", activation="relu"))
    assert not _same_function(dict(batch_norm=False, pool_type="max", activation="gelu"))
    assert not _same_function(dict(batch_norm=True, pool_type="max", activation="relu"))


def test_the_classic_order_pools_last_in_each_block():
    model = _cnn("conv-bn-act-pool")
    kinds = [type(m).__name__ for m in model.features[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [type(m).__name__ for m in _cnn("conv-pool-bn-act").features[0]] == [
        "Conv2d",
        "MaxPool2d",
        "BatchNorm2d",
        "ReLU",
    ]


def test_the_classic_reproductions_use_their_studies_block_order():
    from zoo.models.registry import budget_overrides, get_spec
    from zoo.train.config import resolve

    for name in ("fashion-cnn-baseline", "fashion-cnn-better", "fashion-cnn2-grid", "fashion-cnn3"):
        assert get_spec(name).hparams["block_order"] == "conv-bn-act-pool", name
    spec = get_spec("fashion-cnn")
    assert spec.hparams["block_order"] == "conv-pool-bn-act"  # zoo's own recipe keeps the fast order
    hparams, _ = resolve(spec, budget_overrides(spec, "published"))
    assert hparams["block_order"] == "conv-bn-act-pool"


def test_a_run_saved_before_block_order_existed_rebuilds_with_the_order_it_trained(fake_fashion_dir):
    """On the small official-format files: the rebuilt graph is tested, not the 10,000 test images."""
    import json

    from zoo.train.checkpoint import RECORD, load_run
    from zoo.train.runs import train_run

    result = train_run("fashion-cnn3", {"subset": 300, "epochs": 1, "val_fraction": 0.0, "patience": 0})
    path = result.run_dir / RECORD
    record = json.loads(path.read_text())
    del record["hyperparameters"]["block_order"]  # what a run.json of an older zoo holds
    path.write_text(json.dumps(record))
    model, _ = load_run(result.run_dir)
    assert type(model.features[0][1]).__name__ == "MaxPool2d"  # rebuilt as trained: conv, pool, ...
