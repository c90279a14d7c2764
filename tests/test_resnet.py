"""The residual family: shapes, parameter budgets, validation, and test-time flip averaging."""

import pytest
import torch

from zoo.core.errors import UsageError
from zoo.models.layers import FlipAveraged
from zoo.models.registry import count_parameters, create_model
from zoo.models.resnet import PreActBlock
from zoo.train.runs import train_run


def test_compact_variant_stays_under_100k_parameters():
    assert count_parameters(create_model("fashion-resnet-compact")) <= 100_000


def test_wide_variant_is_wrn_16_4():
    model = create_model("fashion-resnet-wide")
    blocks = [m for m in model.modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 6  # (16 - 4) / 6 = 2 blocks per stage, 3 stages
    assert [b.conv2.out_channels for b in blocks] == [64, 64, 128, 128, 256, 256]
    assert all(isinstance(b.drop, torch.nn.Dropout) and b.drop.p == 0.3 for b in blocks)


def test_stages_halve_resolution_and_project_only_when_the_shape_changes():
    model = create_model("fashion-resnet", widths=(16, 32), blocks=(2, 1), stem_width=16).eval()
    blocks = [m for m in model.modules() if isinstance(m, PreActBlock)]
    assert [b.shortcut is None for b in blocks] == [True, True, False]
    x = torch.randn(2, 1, 28, 28)
    assert model.features(x).shape == (2, 32, 14, 14)
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"widths": ()}, "at least one stage"),
        ({"blocks": (2, 0, 2)}, "at least one block"),
        ({"blocks": (1, 1)}, "blocks has 2 values for 3 layers"),
        ({"widths": (8, 8, 8, 8, 8, 8), "blocks": 1}, "halve the 28x28 input to nothing"),
        ({"activation": "swish"}, "unknown activation"),
    ],
)
def test_bad_architectures_name_the_problem(changes, message):
    with pytest.raises(UsageError, match=message):
        create_model("fashion-resnet", **changes)


def test_flip_averaging_is_mirror_invariant_and_exact_on_symmetric_input():
    torch.manual_seed(0)
    model = create_model("fashion-resnet-compact").eval()
    tta = FlipAveraged(model)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(tta(x), tta(x.flip(-1)))
        symmetric = x + x.flip(-1)
        torch.testing.assert_close(tta(symmetric), model(symmetric), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(tta(x), model(x))


def test_a_resnet_trains_and_its_run_reloads(fashion_files, tmp_path):
    """On 2,700 real images, tested on 1,000 (each seen twice, with its mirror): 10,000 cost seconds."""
    from zoo.train.checkpoint import load_run

    run = train_run(
        "fashion-resnet-compact",
        {"epochs": 1, "batch_size": 64, "test_time_flip": True},
        data=fashion_files[1],
        run_dir=tmp_path / "run",
    )
    assert run.record.train_config["test_time_flip"] is True
    assert 0 < run.record.metrics["test"]["accuracy"] <= 1
    model, _ = load_run(run.run_dir)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), run.model.eval()(x))
