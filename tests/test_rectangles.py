"""Rectangles end to end (issue 38): `--size HxW` and `--resize stretch|pad|crop` in `zoo data add`, zoo's
own models trained, exported, benched and predicted at the dataset's own aspect ratio, and models zoo did
not make fed at the size their user declares, never at one guessed from the dataset when the graph says
"any size". Small made-up images, a few dozen files, one epoch."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cliutil import assert_clean_error
from imagefolders import make_image_folder
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import DataError, UsageError
from zoo.core.images import decode_image, fit, parse_size, size_text
from zoo.core.paths import artifacts_dir
from zoo.data import add_folder_dataset, get_dataset_info, load, load_raw
from zoo.data.manifest import MANIFEST
from zoo.export.exported import ExportedModelError, decode, encode, read_metadata
from zoo.export.exporter import ExportOptions, export_run
from zoo.inference.bench import BenchOptions, run_bench
from zoo.inference.foreign import preprocessing, read_preprocessing
from zoo.inference.predict import OnnxClassifier, classify_files, load_image
from zoo.models.registry import create_model_for
from zoo.train.runs import train_run

runner = CliRunner()
QUICK = dict(batch_sizes=(1, 4), warmup=1, iters=3, min_seconds=0.0)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def zoo(*args: str):
    return runner.invoke(app, [*args])


def _save(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path)
    return path


# ------------------------------------------------------------------------------------------ sizes, modes


def test_sizes_read_as_users_write_them_and_bad_ones_are_one_line():
    assert parse_size(32) == parse_size("32") == (32, 32)
    assert parse_size("48x192") == parse_size("48X192") == parse_size([48, 192]) == (48, 192)
    assert size_text(32, 32) == "32" and size_text(48, 192) == "48x192"
    for bad in ("0", "48x", "x192", "1x2x3", "48x5000", "-3", "4.5", True, 2.0, [48], [48, "192"], None):
        with pytest.raises(UsageError) as info:
            parse_size(bad)
        assert "\n" not in str(info.value) and "--size must be an integer from 1 to 4096" in str(info.value)
    assert_clean_error(
        zoo("data", "add", "x", "nowhere", "--size", "12x"), 2, "or HxW with both in that range"
    )
    assert_clean_error(
        zoo("data", "add", "x", "nowhere", "--resize", "squash"), 2, "--resize must be stretch"
    )


def test_pad_and_crop_give_the_pixels_they_promise(tmp_path):
    """A 10x20 white image padded to 20x20 has 5 black rows above and below; cropped to 10x10 it is its
    middle; stretched it fills the square; the same through a file, load_image and a folder dataset."""
    wide = _save(np.full((10, 20), 255, np.uint8), tmp_path / "wide.png")
    padded = decode_image(wide, 1, 20, 20, "pad").pixels[0]
    assert (padded[:5] == 0).all() and (padded[15:] == 0).all() and (padded[5:15] == 255).all()
    assert (decode_image(wide, 1, 20, 20, "stretch").pixels == 255).all()
    assert np.array_equal(load_image(wide, (1, 20, 20), resize="pad")[0], padded)
    # three bands across a 10x30 image: crop keeps the middle one exactly, pad letterboxes all three
    bands = np.zeros((10, 30), np.uint8)
    bands[:, :10], bands[:, 10:20] = 250, 120
    three = _save(bands, tmp_path / "bands.png")
    assert (decode_image(three, 1, 10, 10, "crop").pixels == 120).all()
    assert (decode_image(three, 1, 5, 5, "crop").pixels == 120).all()  # cropped, then halved
    letterbox = decode_image(three, 1, 9, 9, "pad").pixels[0]
    assert (letterbox[:3] == 0).all() and (letterbox[6:] == 0).all()  # 9x3 of picture, centred
    assert letterbox[4, 0] == 250 and letterbox[4, 4] == 120 and letterbox[4, 8] == 0
    # a tall image cropped to a wide shape keeps its middle rows; RGB pads with black in every channel
    tall = np.zeros((30, 10, 3), np.uint8)
    tall[10:20] = (10, 200, 30)
    assert (decode_image(_save(tall, tmp_path / "tall.png"), 3, 5, 5, "crop").pixels.T == (10, 200, 30)).all()
    rgb = decode_image(_save(np.full((10, 20, 3), 200, np.uint8), tmp_path / "rgb.png"), 3, 20, 20, "pad")
    assert (rgb.pixels[:, :5] == 0).all() and (rgb.pixels[:, 5:15] == 200).all()
    with pytest.raises(UsageError, match="resize mode must be stretch"):
        fit(Image.open(wide), 4, 4, "squash")

    # a folder dataset stores exactly what load_image gives for the same file and mode
    root = tmp_path / "src"
    for name, value in (("dark", 60), ("light", 200)):
        (root / name).mkdir(parents=True)
        for i in range(3):
            _save(np.full((10, 20), value + i, np.uint8), root / name / f"{i}.png")
    manifest = add_folder_dataset("boxed", root, size="20x20", resize="pad").manifest
    assert manifest.conversion["resize_mode"] == "pad" and manifest.conversion["keep_aspect_ratio"] is True
    train, test, _ = load_raw("boxed")
    files = {load_image(p, (1, 20, 20), resize="pad").tobytes() for p in root.rglob("*.png")}
    assert {image.numpy().tobytes() for image in torch.cat([train.images, test.images])} == files
    assert (train.images[:, :, :5] == 0).all() and (train.images[:, :, 15:] == 0).all()


def test_a_manifest_of_the_previous_version_still_reads(tmp_path):
    """Manifests written before rectangles have `size` and no height, width or resize_mode: a square,
    stretched; they load, and adding the same folder again finds them up to date."""
    root = make_image_folder(tmp_path / "src", {"a": 4, "b": 4}, size=(12, 9))
    add_folder_dataset("old", root, size=12)
    path = artifacts_dir() / "data" / "old" / MANIFEST
    record = json.loads(path.read_text())
    conversion = record["conversion"]
    assert (conversion["height"], conversion["width"], conversion["resize_mode"]) == (12, 12, "stretch")
    for key in ("height", "width", "resize_mode"):
        del conversion[key]
    conversion["size"] = 12
    keys = list(conversion)  # the old key order: size first
    record["conversion"] = {k: conversion[k] for k in ["size", *[k for k in keys if k != "size"]]}
    path.write_text(json.dumps(record, indent=2))

    info = get_dataset_info("old")
    assert info.image_shape == (1, 12, 12) and info.resize == "stretch"
    assert len(load("old", val_fraction=0.25).train) > 0
    again = zoo("data", "add", "old", str(root), "--size", "12")
    assert again.exit_code == 0 and "old is up to date" in " ".join(again.stdout.split())
    assert_clean_error(zoo("data", "add", "old", str(root), "--size", "12x16"), 2, "--size: 12 -> 12x16")
    assert_clean_error(
        zoo("data", "add", "old", str(root), "--resize", "crop"), 2, "--resize: stretch -> crop"
    )

    record["conversion"]["size"] = 10  # a size its images do not have
    path.write_text(json.dumps(record))
    with pytest.raises(DataError, match="image_shape: 1x12x12 does not match the conversion settings"):
        get_dataset_info("old")


# ---------------------------------------------------------------------------------- zoo's own models


@pytest.mark.parametrize("name", ["cnn", "cnn-fast", "mlp", "resnet-compact"])
@pytest.mark.parametrize("shape", [(1, 12, 36), (3, 40, 8)])
def test_zoos_own_models_take_any_height_and_width(name, shape):
    model = create_model_for(name, shape, 3).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_a_rectangular_dataset_trains_exports_benches_and_predicts_at_its_own_shape(tmp_path):
    """24x12 pictures padded into 12x36 lines: the run, its export and predict all keep 12x36 and pad."""
    root = make_image_folder(tmp_path / "src", {"top": 10, "middle": 10, "bottom": 10}, size=(24, 12))
    added = zoo("data", "add", "strips", str(root), "--size", "12x36", "--resize", "pad", "--json")
    assert added.exit_code == 0, added.output
    summary = json.loads(added.stdout)
    assert summary["image_shape"] == [1, 12, 36] and summary["resize"] == "pad"
    assert any("do not have the aspect ratio of 12x36" in n and "--resize pad" in n for n in summary["notes"])
    info = get_dataset_info("strips")
    assert info.image_shape == (1, 12, 36) and info.resize == "pad" and "(padded)" in info.description
    listed = zoo("data", "list")
    assert "1x12x36 (pad)" in listed.stdout

    run = train_run("cnn", {"epochs": 1, "val_fraction": 0.2}, dataset="strips", run_dir=tmp_path / "run")
    record = json.loads((run.run_dir / "run.json").read_text())
    assert record["input_shape"] == [1, 12, 36] and record["data"]["resize"] == "pad"
    export_run(run.run_dir, ExportOptions(out=tmp_path / "e"))
    onnx_path = tmp_path / "e" / "model.onnx"
    meta = read_metadata(onnx_path)
    assert meta["input_shape"] == [1, 12, 36]
    assert meta["image_preprocessing"]["resize"] == {
        "height": 12,
        "width": 36,
        "filter": "bilinear",
        "antialias": True,
        "keep_aspect_ratio": True,
        "mode": "pad",
    }
    assert (
        json.loads((tmp_path / "e" / "model.json").read_text())["image_preprocessing"]
        == meta["image_preprocessing"]
    )

    classifier = OnnxClassifier.load(onnx_path)
    assert classifier.input_shape == (1, 12, 36) and classifier.resize == "pad"
    _, test, _ = load_raw("strips")
    expected = float((classifier.classify(test.images.numpy()).labels == test.labels.numpy()).mean())
    (row,) = run_bench(
        str(onnx_path), BenchOptions(runtimes=["onnxruntime"], variants=("fp32",), **QUICK)
    ).results
    assert row.available and row.accuracy == pytest.approx(expected, abs=1e-9)

    # predict of a file sees the pixels the dataset holds for it, so gives the same answer
    file = sorted(root.rglob("*.png"))[0]
    pixels = load_image(file, (1, 12, 36), resize=classifier.resize)
    stored = torch.cat([load_raw("strips")[0].images, test.images]).numpy()
    assert any(np.array_equal(pixels, image) for image in stored)
    assert (pixels[:, :, :6] == 0).all() and (pixels[:, :, 30:] == 0).all()  # 24 wide, centred in 36
    (predicted,) = classify_files(classifier, [file])
    assert predicted["label"] == int(classifier.classify(pixels[None]).labels[0])
    shown = zoo("predict", str(onnx_path), str(file), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["class_name"] == predicted["class_name"]


def test_exported_metadata_without_a_mode_still_reads_and_a_contradiction_is_refused():
    from zoo.export.exported import image_preprocessing

    pre = image_preprocessing([1, 12, 36], [0.5], [0.25], "natural", "crop")
    assert pre["resize"]["mode"] == "crop" and pre["resize"]["keep_aspect_ratio"] is True
    base = {
        "zoo.format": "zoo.onnx/1",
        "model": "cnn",
        "dataset": "strips",
        "class_names": ["a", "b"],
        "input_name": "images",
        "output_name": "logits",
        "input_shape": [1, 12, 36],
        "mean": [0.5],
        "std": [0.25],
        "weights_sha256": "0" * 64,
    }
    old = image_preprocessing([1, 12, 36], [0.5], [0.25], "natural")
    del old["resize"]["mode"]  # type: ignore[misc]
    assert old["resize"]["keep_aspect_ratio"] is False
    assert decode(encode({**base, "image_preprocessing": old}), "old.onnx")["image_preprocessing"] == old
    pre["resize"]["keep_aspect_ratio"] = False
    with pytest.raises(ExportedModelError, match="keep_aspect_ratio: does not fit mode crop"):
        decode(encode({**base, "image_preprocessing": pre}), "bad.onnx")


# ------------------------------------------------------------------------------ models zoo did not make


class _Centroid(nn.Module):
    """Which third of a 48-pixel-wide line is bright, by the absolute column of its brightness: right only
    when fed the lines at 48 pixels wide, as their models are (at 16 wide every line is in the first third).
    Its graph takes any height and width."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centres", torch.tensor([8.0, 24.0, 40.0]))

    def forward(self, x):
        profile = x.mean(dim=(1, 2))
        weights = torch.relu(profile - profile.mean(1, keepdim=True))
        cols = torch.arange(profile.shape[1], dtype=x.dtype) + 0.5
        centroid = (weights * cols).sum(1) / (weights.sum(1) + 1e-6)
        return -((centroid[:, None] - self.centres) ** 2) / 16


@pytest.fixture
def lines(tmp_path):
    """A folder dataset of 16x48 lines whose class is where along the line the bright band is, and a
    foreign ONNX file exported with symbolic height and width that reads them."""
    rng = np.random.default_rng(0)
    root = tmp_path / "lines-src"
    for label, name in enumerate(("left", "middle", "right")):  # sorted as zoo sorts classes
        (root / name).mkdir(parents=True)
        for i in range(12):
            line = rng.normal(40, 8, (16, 48))
            start = 16 * label + int(rng.integers(0, 6))
            line[:, start : start + 10] += 150
            _save(np.clip(line, 0, 255).astype(np.uint8), root / name / f"{i}.png")
    add_folder_dataset("lines", root, size="16x48")
    path = tmp_path / "reader.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Centroid().eval(),
            (torch.zeros(1, 1, 16, 48),),
            str(path),
            input_names=["input"],
            output_names=["scores"],
            dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "scores": {0: "n"}},
            dynamo=False,
        )
    return root, path


FEED = ["--dataset", "lines", "--mean", "0", "--std", "1", "--runtime", "onnxruntime"]
QUICK_ARGS = ["--batch-sizes", "1", "--warmup", "1", "--iters", "3", "--min-seconds", "0"]


def test_a_graph_of_any_size_is_fed_at_the_declared_size_and_never_at_a_guess(lines, tmp_path):
    root, path = lines
    _, test, _ = load_raw("lines")
    with torch.inference_mode():
        truth = _Centroid()(test.images.float() / 255).argmax(1)
    accuracy = float((truth == test.labels).float().mean())
    assert accuracy == 1.0

    def bench(size):
        prep = preprocessing(dataset="lines", mean=[0.0], std=[1.0], size=size)
        options = BenchOptions(runtimes=["onnxruntime"], foreign=prep, **QUICK)
        return run_bench(str(path), options).results[0]

    declared = bench([16, 48])
    assert declared.accuracy == accuracy and declared.foreign.input_shape == [1, 16, 48]
    assert bench([16, 16]).accuracy < 0.5  # the same lines squashed: the size is what the model needs

    refused = zoo("bench", str(path), *FEED, *QUICK_ARGS)
    assert_clean_error(refused, 2, "takes inputs (batch, 1, ?, ?) ('input') of any height and width")
    assert "pass --size HxW (--size 16x48 feeds the 16x48 images of lines as they are)" in refused.stderr
    told = zoo("bench", str(path), *FEED, "--size", "16x48", *QUICK_ARGS, "--out", str(tmp_path / "b"))
    assert told.exit_code == 0, told.output
    row = json.loads((tmp_path / "b" / "results.json").read_text())["results"][0]
    assert row["accuracy"] == accuracy and row["foreign"]["input_shape"] == [1, 16, 48]

    # predict: the same rule, and the declared size read from a sidecar as [H, W]
    image = sorted((root / "right").glob("*.png"))[0]
    feed = ["--dataset", "lines", "--mean", "0", "--std", "1"]
    assert_clean_error(zoo("predict", str(path), str(image), *feed), 2, "pass --size HxW")
    sidecar = tmp_path / "feed.json"
    sidecar.write_text(json.dumps({"dataset": "lines", "mean": 0, "std": 1, "size": [16, 48]}))
    assert read_preprocessing(sidecar).size == [16, 48]
    shown = zoo("predict", str(path), str(image), "--preprocessing", str(sidecar), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["class_name"] == "right"
    sidecar.write_text(json.dumps({"dataset": "lines", "mean": 0, "std": 1, "size": 16}))
    assert read_preprocessing(sidecar).size == [16, 16]
    sidecar.write_text(json.dumps({"dataset": "lines", "mean": 0, "std": 1, "size": [16, 0]}))
    with pytest.raises(UsageError, match=r"not a valid preprocessing file \(size: must be an integer from 1"):
        read_preprocessing(sidecar)
    sidecar.write_text(json.dumps({"dataset": "lines", "mean": 0, "std": 1, "size": "16x48"}))
    with pytest.raises(UsageError, match=r"\(size: give a number or \[height, width\]"):
        read_preprocessing(sidecar)


def test_a_declared_size_a_static_graph_cannot_take_names_both_shapes(tmp_path):
    """A graph with static 16x48 inputs needs nothing on a 16x48 dataset; --size 16 (a square) or 48x16
    is one line naming both shapes and the size to pass."""
    root = tmp_path / "src"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(8):
            _save(np.full((16, 48), 10 * i + (name == "b") * 100, np.uint8), root / name / f"{i}.png")
    add_folder_dataset("flat", root, size="16x48")
    path = tmp_path / "static.onnx"
    model = nn.Sequential(nn.Flatten(), nn.Linear(16 * 48, 2)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, 16, 48),),
            str(path),
            input_names=["input"],
            output_names=["scores"],
            dynamic_axes={"input": {0: "n"}, "scores": {0: "n"}},
            dynamo=False,
        )
    feed = ["--dataset", "flat", "--mean", "0", "--std", "1", "--runtime", "onnxruntime", *QUICK_ARGS]
    plain = zoo("bench", str(path), *feed)
    assert plain.exit_code == 0, plain.output  # static and the dataset's shape: nothing to say
    for size, shown in (("16", "(batch, 1, 16, 16)"), ("48x16", "(batch, 1, 48, 16)")):
        result = zoo("bench", str(path), *feed, "--size", size)
        assert_clean_error(
            result, 2, f"takes inputs (batch, 1, 16, 48) ('input') but --size {size} gives {shown}"
        )
        assert "pass --size 16x48 to resize the test images" in result.stderr
    # the old advice, that zoo resizes to squares only, is gone
    assert "squares" not in zoo("bench", str(path), *feed, "--size", "20").stderr
