import json
import math

import numpy as np
import pytest
import torch

from zoo.core.errors import CheckpointError, TrainingDiverged
from zoo.data import Normalizer
from zoo.models.registry import create_model
from zoo.train import loop as train_module
from zoo.train.checkpoint import RECORD, WEIGHTS, load_run, read_record
from zoo.train.config import TrainConfig
from zoo.train.loop import Evaluation, fit, predict_logits
from zoo.train.runs import train_run


@pytest.fixture(scope="module")
def trained(fashion_small, tmp_path_factory):
    """fashion-cnn trained for 2 epochs on 2,700 images; evaluated on the full 10k test set."""
    return train_run(
        "fashion-cnn",
        {"epochs": 2, "seed": 0},
        data=fashion_small,
        run_dir=tmp_path_factory.mktemp("runs") / "run",
    )


def test_short_training_clearly_beats_chance(trained):
    record = trained.record
    assert record.metrics["test"]["n"] == 10_000
    assert record.metrics["test"]["accuracy"] > 0.65  # chance is 0.10
    assert record.metrics["val"]["accuracy"] > 0.65
    assert len(record.history) == 2
    assert record.history[-1]["train_loss"] < record.history[0]["train_loss"]


def test_run_record_describes_the_run(trained):
    record = read_record(trained.run_dir)
    assert record.model == "fashion-cnn"
    assert record.train_config["epochs"] == 2
    assert record.hyperparameters["filters"] == [64, 32]
    assert record.class_names[0] == "T-shirt/top"
    assert record.data["sha256"] and record.data["n_train"] == 2700
    assert record.versions["torch"] == torch.__version__
    assert set(record.metrics["test"]["per_class"]) == set(record.class_names)
    cm = record.metrics["test"]["confusion_matrix"]
    assert sum(map(sum, cm)) == 10_000
    assert sorted(p.name for p in trained.run_dir.iterdir()) == [RECORD, WEIGHTS]


def test_checkpoint_round_trip_gives_identical_logits(trained, fashion_small):
    loaded, _ = load_run(trained.run_dir)
    normalize = Normalizer(fashion_small.mean, fashion_small.std)
    images = fashion_small.test.images[:256]
    assert torch.equal(
        predict_logits(trained.model, images, normalize), predict_logits(loaded, images, normalize)
    )


def test_changed_weights_are_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained.run_dir, copy)
    data = bytearray((copy / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_run(copy)
    (copy / WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_run(copy)


def test_weights_of_another_architecture_are_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained.run_dir, copy)
    record = json.loads((copy / RECORD).read_text())
    record["hyperparameters"]["filters"] = [16, 32]
    (copy / RECORD).write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="does not fit model fashion-cnn"):
        load_run(copy)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_run(tmp_path / "nothing")
    (tmp_path / RECORD).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_run(tmp_path)


def test_same_seed_same_training(fashion_small):
    config = TrainConfig(epochs=1, seed=3, batch_size=256)
    results = []
    for _ in range(2):
        torch.manual_seed(3)
        model = create_model("fashion-mlp")
        results.append(fit(model, fashion_small, config).history[0].train_loss)
    assert results[0] == results[1]


def test_early_stopping_restores_the_best_epoch(fashion_small, monkeypatch):
    losses = iter([1.0, 0.5, 0.7, 0.9, 0.95, 0.99])
    snapshots = {}

    def fake_evaluate(model, split, normalize, *, flip=False):
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return Evaluation(next(losses), 0.5, torch.zeros(1, 10), torch.zeros(1, dtype=torch.long))

    monkeypatch.setattr(train_module, "evaluate", fake_evaluate)
    model = create_model("fashion-mlp")
    result = fit(model, fashion_small, TrainConfig(epochs=6, patience=2, batch_size=512))
    assert result.stopped_early and len(result.history) == 4 and result.best_epoch == 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[2][key])


def test_divergence_is_reported(fashion_small):
    model = create_model("fashion-mlp")
    with pytest.raises(TrainingDiverged, match="lower lr"):
        fit(model, fashion_small, TrainConfig(optimizer="sgd", lr=1e12, epochs=1, batch_size=256))


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_schedules_and_augmentation_run(fashion_small, schedule):
    config = TrainConfig(
        epochs=1,
        batch_size=512,
        schedule=schedule,
        augment_translate=2,
        augment_hflip=True,
        augment_rotation=10,
        augment_erasing=0.5,
        augment_classes=(2, 6),
        label_smoothing=0.1,
    )
    history = fit(create_model("fashion-mlp"), fashion_small, config).history
    assert math.isfinite(history[0].train_loss) and history[0].val_acc > 0.2


def test_triangular_schedule_rises_then_falls_linearly():
    from zoo.train.loop import make_scheduler

    model = torch.nn.Linear(2, 2)
    config = TrainConfig(lr=0.1, epochs=2, schedule="triangular")
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=50)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    peak = max(range(100), key=lrs.__getitem__)
    assert 18 <= peak <= 20 and lrs[peak] == pytest.approx(0.1, rel=1e-3)
    assert lrs[0] < 0.01 and lrs[-1] < 0.002
    rises, falls = np.diff(lrs[: peak + 1]), np.diff(lrs[peak:])
    assert (rises > 0).all() and (falls < 0).all()
    assert np.allclose(falls, falls.mean(), rtol=1e-3)  # linear


def test_compiled_training_matches_the_module_it_wraps(fashion_small):
    """torch.compile shares parameters with the model, so the saved model is the trained one."""
    config = TrainConfig(epochs=1, batch_size=256, compile=True, precision="fp32", val_fraction=0.1)
    model = create_model("fashion-mlp")
    before = [p.detach().clone() for p in model.parameters()]
    result = fit(model, fashion_small, config)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert result.history[0].val_acc > 0.5


@pytest.mark.parametrize(
    "amx, avx512_bf16, vendor, expected",
    [
        (True, True, "GenuineIntel", "bf16"),  # AMX tiles: measured 1.27x faster
        (False, True, "GenuineIntel", "fp32"),  # AVX512-BF16 alone on Intel: measured slower than fp32
        (False, True, "AuthenticAMD", "bf16"),  # the EPYC figures were measured with bf16
        (False, False, "AuthenticAMD", "fp32"),  # no bf16 units: emulated bf16 is slower
    ],
)
def test_auto_precision_on_the_cpu_follows_the_measurements(monkeypatch, amx, avx512_bf16, vendor, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(train_module, "cpu_vendor", lambda: vendor)
    assert train_module.resolve_precision("auto", torch.device("cpu")) == expected
    assert train_module.resolve_precision("fp32", torch.device("cpu")) == "fp32"  # an explicit choice stays


def test_a_triangular_schedule_trains_to_its_end_and_saves(tmp_path, monkeypatch):
    """Its last scheduler step left a negative learning rate, which the resume state refused: the run
    failed at the end of its last epoch with a CheckpointError."""
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("ZOO_ARTIFACTS", str(tmp_path))
    args = ["train", "fashion-mlp", "--set", "schedule=triangular", "--epochs", "2", "--subset", "600"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
