"""Issue 27's journey on a user's own images, as a user types it: class folders -> `zoo data add` -> train
-> tune -> export -> bench -> report -> predict, each command reading the dataset zoo made of the folder."""

import json

import numpy as np
import pytest
from imagefolders import make_image_folder
from PIL import Image
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()

# A class folder whose name is HTML: it stays the class's name, and every report must escape it.
CLASSES = {"boot": 24, "<i>bag": 24, "shirt": 24}


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """RGB JPEG class folders, a few of their images re-saved as grayscale PNG (mixed modes and sizes)."""
    monkeypatch.setenv("COLUMNS", "200")
    src = make_image_folder(tmp_path / "shop", CLASSES, size=(20, 16), mode="RGB", fmt="JPEG")
    for path in sorted((src / "shirt").glob("*.jpg"))[:3]:
        with Image.open(path) as image:
            image.convert("L").resize((24, 24)).save(path.with_suffix(".png"))
        path.unlink()
    return src


def _ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def test_own_images_through_add_train_tune_export_bench_report_and_predict(shop, tmp_path):
    added = _ok(["data", "add", "shop", str(shop), "--size", "16", "--channels", "3"])
    assert "3 classes" in added.stdout and "grayscale" not in added.stderr

    trained = json.loads(_ok(["train", "cnn-fast", "--dataset", "shop", "--epochs", "4", "--json"]).stdout)
    assert trained["dataset"] == "shop" and trained["input_shape"] == [3, 16, 16]
    assert trained["class_names"] == sorted(CLASSES)  # the folder names, sorted
    assert trained["metrics"]["test"]["accuracy"] >= 0.8  # the classes are learnable: far above 1/3

    tuned = _ok(
        [
            *("tune", "cnn-fast", "--dataset", "shop", "--trials", "2", "--epochs", "1"),
            *("--set", "val_fraction=0.2", "--retrain-epochs", "4", "--json"),
        ]
    )
    study = json.loads(tuned.stdout)["study"]["name"]
    assert "shop" in study  # an agnostic variant's default study names its dataset
    assert "cnn-fast on shop" in _ok(["studies"]).stdout  # which dataset an agnostic study tuned on

    out = tmp_path / "export"
    _ok(["export", "best", "--study", study, "--out", str(out)])
    meta = json.loads((out / "model.json").read_text())
    described = (meta["dataset"], meta["class_names"], meta["input_shape"])
    assert described == ("shop", sorted(CLASSES), [3, 16, 16])
    assert meta["image_preprocessing"]["color"] == "rgb"
    assert meta["image_preprocessing"]["invert"] == "never"  # photos: natural polarity

    benched = _ok(
        [
            *("bench", str(out / "model.onnx"), "--runtime", "onnxruntime", "--runtime", "torch-cpu"),
            *("--batch-sizes", "1", "--warmup", "1", "--iters", "2", "--min-seconds", "0"),
            *("--variants", "fp32", "--out", str(tmp_path / "bench"), "--json"),
        ]
    )
    rows = json.loads(benched.stdout)["results"]
    accuracy = {r["runtime"]: r["accuracy"] for r in rows}
    assert accuracy["onnxruntime"] == accuracy["torch-cpu"] >= 0.8

    _ok(["report", "best", "--study", study, "--out", str(tmp_path / "report")])
    html = (tmp_path / "report" / "report.html").read_text()
    assert "&lt;i&gt;bag" in html and "<i>bag" not in html

    # one test image as a file: zoo predict names the class the exported model gives its pixels
    from zoo.data import load_raw

    _, test, _ = load_raw("shop")
    boot = int(np.flatnonzero(test.labels.numpy() == sorted(CLASSES).index("boot"))[0])
    Image.fromarray(test.images[boot].permute(1, 2, 0).numpy()).save(tmp_path / "boot.png")
    predicted = _ok(["predict", str(out / "model.onnx"), str(tmp_path / "boot.png"), "--json"])
    assert json.loads(predicted.stdout)[0]["class_name"] == "boot"


def test_a_preset_refuses_a_folder_dataset_and_names_the_agnostic_variant(shop):
    _ok(["data", "add", "shop", str(shop), "--size", "16"])
    result = runner.invoke(app, ["train", "fashion-cnn-fast", "--dataset", "shop"])
    assert result.exit_code == 2 and "cnn-fast --dataset shop" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
