"""Issue 39: a stranger's first minute. With only the installed package (no dataset, no network, no
artifacts) a shipped model predicts and exports; its preprocessing comes from one call, torchvision's way;
its headline figure is what its default model scores."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.data.loading import load_test
from zoo.weights.shipped import SHIPPED

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path("/usr/share/datasets")


def _can_hide_datasets() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs none {DATASETS}"], capture_output=True
    )
    return probe.returncode == 0


hidden = pytest.mark.skipif(not _can_hide_datasets(), reason="needs root and unshare to hide the datasets")


def zoo_without_data(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`zoo ARGS` in a real process that sees no dataset (an empty tmpfs over /usr/share/datasets in its own
    mount namespace), an empty cache and artifacts folder, from a folder outside the repository."""
    env = {
        **os.environ,
        "ZOO_HOME": str(tmp_path / "home"),
        "ZOO_ARTIFACTS": str(tmp_path / "artifacts"),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
    }
    env.pop("ZOO_DATA_DIR", None)
    script = f'mount -t tmpfs none {DATASETS} && exec "$0" -m cli "$@"'
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def test_set():
    return load_test("fashion-mnist")


def _png(test_set, index: int, path: Path) -> Path:
    Image.fromarray(test_set.images[index, 0].numpy()).save(path)
    return path


@hidden
def test_predict_a_shipped_model_with_the_package_alone(tmp_path, test_set):
    image = _png(test_set, 0, tmp_path / "boot.png")
    done = zoo_without_data(tmp_path, "predict", "fashion-cnn", str(image), "--json")
    assert done.returncode == 0, done.stderr
    model = zoo.create_model("fashion-cnn", pretrained=True)
    preprocess = zoo.pretrained_transforms("fashion-cnn")
    with torch.inference_mode():
        expected = model(preprocess(test_set.images[:1])).argmax(1).item()
    row = json.loads(done.stdout)[0]
    assert row["label"] == expected and row["class_name"] == "Ankle boot"
    assert not (tmp_path / "home" / "exports").exists()  # nothing exported, nothing read but the weights
    table = zoo_without_data(tmp_path, "predict", "fashion-resnet", str(image), "--tta")
    assert table.returncode == 0 and "shipped weights, with flips" in table.stdout, table.stderr


@hidden
def test_export_a_shipped_model_with_the_package_alone(tmp_path):
    done = zoo_without_data(tmp_path, "export", "fashion-mlp", "--pretrained", "--out", str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "e" / "model.json").read_text())
    weights = SHIPPED["fashion-mlp"]
    assert meta["metrics"]["test_exported"]["accuracy"] == weights.correct / weights.n
    parity = json.loads((tmp_path / "e" / "parity.json").read_text())["fp32"]
    assert parity["passed"] and parity["images"] == 20  # the reference images
    int8 = zoo_without_data(
        tmp_path, "export", "fashion-mlp", "--pretrained", "--int8", "--out", str(tmp_path / "i")
    )
    assert int8.returncode == 1 and "--int8 calibrates on the training images" in int8.stderr
    assert len(int8.stderr.strip().splitlines()) == 1 and not (tmp_path / "i").exists()


@pytest.mark.parametrize("name", ["fashion-mlp", "fashion-resnet-compact"])
def test_create_model_and_its_transforms_reach_the_shipped_figure(name, test_set):
    """The README's five lines. With pixels / 255, the obvious guess, resnet-compact scored 14.7%."""
    model = zoo.create_model(name, pretrained=True)
    preprocess = zoo.pretrained_transforms(name)
    with torch.inference_mode():
        predicted = torch.cat(
            [model(preprocess(test_set.images[i : i + 1000])).argmax(1) for i in range(0, 10000, 1000)]
        )
    correct = int((predicted == test_set.labels).sum())
    assert abs(correct - SHIPPED[name].correct) <= 2  # exact on the CPU that shipped it; near ties elsewhere


def test_the_transforms_of_a_picture_are_what_predict_feeds(tmp_path, test_set):
    from zoo.inference.predict import load_image

    path = _png(test_set, 3, tmp_path / "x.png")
    preprocess = zoo.pretrained_transforms("fashion-cnn")
    with Image.open(path) as image:
        from_pil = preprocess(image.resize((40, 40)))
    from_file = preprocess(torch.from_numpy(load_image(path, (1, 28, 28))))
    assert torch.equal(preprocess(path), from_file) and from_pil.shape == (1, 28, 28)
    with pytest.raises(ValueError, match=r"takes uint8 pixels of shape \(1, 28, 28\)"):
        preprocess(torch.zeros(3, 32, 32, dtype=torch.uint8))


def test_a_model_that_drifted_from_its_reference_logits_is_refused(tmp_path):
    from zoo.train.checkpoint import load_run
    from zoo.weights.store import WeightsError, locate
    from zoo.weights.use import check_reference

    folder = locate("fashion-mlp").folder
    model, record = load_run(folder)
    check_reference("fashion-mlp", model, record, folder)  # as shipped: passes
    with torch.no_grad():
        next(model.parameters()).mul_(1.01)
    with pytest.raises(WeightsError, match="does not give its reference images their shipped logits"):
        check_reference("fashion-mlp", model, record, folder)


def test_the_headline_is_the_default_models_and_flips_are_said_beside_it():
    from typer.testing import CliRunner

    from cli.main import app

    weights = SHIPPED["fashion-resnet"]
    assert weights.correct_tta is not None and weights.correct < weights.correct_tta
    listed = CliRunner().invoke(app, ["models", "fashion-resnet"], env={"COLUMNS": "200"})
    shown = " ".join(listed.stdout.split())
    assert (
        f"shipped {weights.correct / weights.n:.2%}, {weights.correct_tta / weights.n:.2%} with flips"
        in shown
    )
    assert np.isclose(weights.test_accuracy, weights.correct / weights.n)
    assert np.isclose(weights.tta_accuracy, weights.correct_tta / weights.n)
