import json
import re
import struct
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import UsageError, ZooError
from zoo.export.exported import CHUNK, image_preprocessing, normalise, read_metadata
from zoo.inference.predict import OnnxClassifier, classify_files, load_image

runner = CliRunner()

FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
GRAY = {"input_shape": [1, 28, 28], "mean": [0.2860], "std": [0.3530]}
PREPROCESSING = image_preprocessing(GRAY["input_shape"], GRAY["mean"], GRAY["std"], "light-on-dark")
RGB = {"input_shape": [3, 32, 32], "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def make_model(path, spec, *, with_metadata=True, seed=0):
    """Flatten + Gemm with seeded weights, saved like `zoo export` does: JSON strings in metadata_props.

    Built with onnx.helper so the test depends on neither the exporter nor `zoo export`."""
    c, h, w = spec["input_shape"]
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((len(FASHION), c * h * w)) * 0.05).astype(np.float32)
    bias = (rng.standard_normal(len(FASHION)) * 0.1).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["images"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", c, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(FASHION)])],
        initializer=[numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    if with_metadata:
        metadata = {
            "zoo.format": "zoo.onnx/1",
            "model": "tiny-linear",
            "dataset": "fashion-mnist",
            "class_names": FASHION,
            "preprocessing": "x = (pixels / 255 - mean) / std",
            "input_name": "images",
            "output_name": "logits",
            "weights_sha256": "0" * 64,
            "metrics": {"test": {"accuracy": 0.5}},
            **spec,
        }
        helper.set_model_props(model, {k: json.dumps(v) for k, v in metadata.items()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return weight, bias


def reference(images_nchw, spec, weight, bias):
    """The normalisation and the model in float64 numpy, independent of the code under test."""
    mean = np.asarray(spec["mean"]).reshape(1, -1, 1, 1)
    std = np.asarray(spec["std"]).reshape(1, -1, 1, 1)
    x = (images_nchw.astype(np.float64) / 255 - mean) / std
    logits = x.reshape(len(x), -1) @ weight.T.astype(np.float64) + bias
    e = np.exp(logits - logits.max(1, keepdims=True))
    return logits, e / e.sum(1, keepdims=True)


def pixels(n, spec, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (n, *spec["input_shape"]), dtype=np.uint8)


@pytest.fixture
def gray(tmp_path):
    path = tmp_path / "model.onnx"
    weight, bias = make_model(path, GRAY)
    return OnnxClassifier.load(path, threads=1), weight, bias


@pytest.fixture
def rgb(tmp_path):
    path = tmp_path / "rgb.onnx"
    weight, bias = make_model(path, RGB, seed=3)
    return OnnxClassifier.load(path, threads=1), weight, bias


def test_load_reads_the_metadata(gray):
    classifier, _, _ = gray
    assert classifier.class_names == FASHION
    assert classifier.input_shape == (1, 28, 28)
    assert classifier.mean == GRAY["mean"] and classifier.std == GRAY["std"]
    assert classifier.metadata["metrics"] == {"test": {"accuracy": 0.5}}  # extra keys decoded, not required
    assert classifier.metadata["model"] == "tiny-linear"


@pytest.mark.parametrize("n", [1, 7, CHUNK + 44])
def test_classify_matches_a_numpy_reference(gray, n):
    classifier, weight, bias = gray
    images = pixels(n, GRAY)
    got = classifier.classify(images)
    logits, probs = reference(images, GRAY, weight, bias)
    assert got.labels.dtype == np.int64 and got.labels.shape == (n,)
    assert got.probabilities.dtype == np.float32 and got.probabilities.shape == (n, 10)
    np.testing.assert_array_equal(got.labels, logits.argmax(1))
    np.testing.assert_allclose(got.logits, logits, atol=1e-4)
    np.testing.assert_allclose(got.probabilities, probs, atol=1e-5)
    assert got.names == [FASHION[i] for i in got.labels]
    assert len(set(got.labels.tolist())) > 1 or n == 1  # the model is not trivially constant


def test_every_gray_layout_gives_the_same_answer(gray):
    classifier, _, _ = gray
    batch = pixels(5, GRAY)[:, 0]  # (N, H, W)
    expected = classifier.classify(batch[:, None]).logits
    for images in (batch, batch[..., None]):
        np.testing.assert_array_equal(classifier.classify(images).logits, expected)
    for single in (batch[2], batch[2][None], batch[2][..., None]):  # (H,W), (1,H,W), (H,W,1)
        np.testing.assert_array_equal(classifier.classify(single).logits, expected[2:3])


def test_every_rgb_layout_gives_the_same_answer(rgb):
    classifier, weight, bias = rgb
    nchw = pixels(4, RGB)
    nhwc = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    expected = classifier.classify(nchw)
    np.testing.assert_array_equal(expected.labels, reference(nchw, RGB, weight, bias)[0].argmax(1))
    np.testing.assert_array_equal(classifier.classify(nhwc).logits, expected.logits)
    np.testing.assert_array_equal(classifier.classify(nhwc[1]).logits, expected.logits[1:2])  # (H,W,C)
    np.testing.assert_array_equal(classifier.classify(nchw[1]).logits, expected.logits[1:2])  # (C,H,W)


def test_top_k_is_sorted_and_consistent(gray):
    classifier, _, _ = gray
    prediction = classifier.classify(pixels(3, GRAY))
    top = prediction.top(3)
    assert [len(t) for t in top] == [3, 3, 3]
    for row, name, best in zip(prediction.probabilities, prediction.names, top, strict=True):
        assert best[0][0] == name and best[0][1] == pytest.approx(row.max())
        assert [p for _, p in best] == sorted((p for _, p in best), reverse=True)
    assert len(prediction.top(50)[0]) == 10
    with pytest.raises(UsageError):
        prediction.top(0)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 1, 32, 32), np.uint8), "images are 32x32 but the model expects 28x28"),
        (np.zeros((32, 32), np.uint8), "images are 32x32 but the model expects 28x28"),
        (np.zeros((2, 28, 28, 3), np.uint8), "3 channel(s) but the model expects 1"),
        (np.zeros((28,), np.uint8), "2 to 4 dimensions"),
        (np.zeros((2, 1, 28, 28), np.float32), "must be uint8"),
        (np.zeros((28, 28), np.int64), "must be uint8"),
    ],
)
def test_bad_images_are_usage_errors(gray, images, message):
    classifier, _, _ = gray
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        classifier.classify(images)


def test_rgb_model_refuses_grayscale_batches(rgb):
    classifier, _, _ = rgb
    with pytest.raises(UsageError, match="expects 3"):
        classifier.classify(np.zeros((6, 32, 32), np.uint8))


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(ZooError, match="does not exist"):
        OnnxClassifier.load(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ZooError, match="is not a valid ONNX model"):
        OnnxClassifier.load(corrupt)
    bare = tmp_path / "bare.onnx"
    make_model(bare, GRAY, with_metadata=False)
    with pytest.raises(ZooError, match="has no zoo metadata; export it with `zoo export`"):
        OnnxClassifier.load(bare)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"class_names": ["\x1b[31mT-shirt", *FASHION[1:]]}, "class_names.0: string should match pattern"),
        ({"mean": [float("nan")]}, "mean.0: input should be a finite number"),
        ({"std": [0.0]}, "std.0: input should be greater than 0"),
        ({"weights_sha256": None}, "weights_sha256: input should be a valid string"),
        (
            {"image_preprocessing": {**PREPROCESSING, "polarity": "dark"}},
            "image_preprocessing.polarity: input should be 'light-on-dark' or 'natural'",
        ),
        (
            {"image_preprocessing": {**PREPROCESSING, "mean": [0.5]}},
            "image_preprocessing.mean: differs from mean",
        ),
        (
            {"image_preprocessing": {k: v for k, v in PREPROCESSING.items() if k != "invert"}},
            "image_preprocessing.invert: missing",
        ),
        (
            {"image_preprocessing": {**PREPROCESSING, "color": "rgb", "grayscale_weights": None}},
            "image_preprocessing.color: rgb does not fit 1 input channel(s)",
        ),
    ],
    ids=["ANSI escape", "NaN mean", "zero std", "no sha256", "polarity", "mean", "no invert", "colour"],
)
def test_metadata_that_breaks_the_contract_is_one_line(tmp_path, change, message):
    import onnx

    path = tmp_path / "m.onnx"
    make_model(path, GRAY)
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props} | {k: json.dumps(v) for k, v in change.items()}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))
    with pytest.raises(ZooError, match=f"malformed zoo metadata \\({re.escape(message)}"):
        OnnxClassifier.load(path)


def test_load_image_reads_resizes_and_inverts(tmp_path, gray):
    classifier, _, _ = gray
    original = pixels(1, GRAY)[0, 0]
    small = tmp_path / "small.png"
    Image.fromarray(original, mode="L").save(small)
    loaded = load_image(small, classifier.input_shape)
    assert loaded.dtype == np.uint8 and loaded.shape == (1, 28, 28)
    np.testing.assert_array_equal(loaded[0], original)  # PNG is lossless and no resize happens
    np.testing.assert_array_equal(load_image(small, (1, 28, 28), invert=True)[0], 255 - original)

    big = tmp_path / "big.png"
    colour = np.random.default_rng(2).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    Image.fromarray(colour, mode="RGB").save(big)
    loaded = load_image(big, classifier.input_shape)
    expected = np.asarray(Image.fromarray(colour).convert("L").resize((28, 28), Image.Resampling.BILINEAR))
    assert loaded.shape == (1, 28, 28)
    np.testing.assert_array_equal(loaded[0], expected)
    assert load_image(big, (3, 32, 32)).shape == (3, 32, 32)  # an RGB model keeps the colours

    rows = classify_files(classifier, [small, big])
    direct = classifier.classify(np.stack([load_image(small, (1, 28, 28)), load_image(big, (1, 28, 28))]))
    assert [r["class_name"] for r in rows] == direct.names
    assert [r["label"] for r in rows] == direct.labels.tolist()
    assert rows[0]["path"] == str(small) and len(rows[0]["top"]) == 3
    assert rows[0]["top"][0]["class_name"] == rows[0]["class_name"]


def test_load_image_refuses_what_is_not_an_image(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    with pytest.raises(UsageError, match="is not an image PIL can read"):
        load_image(text, (1, 28, 28))
    with pytest.raises(UsageError, match="does not exist"):
        load_image(tmp_path / "missing.png", (1, 28, 28))


def _dds_of_an_unknown_pixel_format(path):
    """A DDS header (a format Pillow has a plugin for) naming a FourCC no decoder knows: Pillow raises
    NotImplementedError, which `zoo predict` reported as an internal error (found by fuzzing)."""
    header = struct.pack("<4sIIIIIII44s", b"DDS ", 124, 0x1007, 4, 4, 0, 0, 0, bytes(44))
    pixel_format = struct.pack("<II4sIIIII", 32, 0x4, b"XYZW", 0, 0, 0, 0, 0)
    path.write_bytes(header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + bytes(64))
    return path


def test_a_corrupt_image_is_refused_alike_by_predict_and_by_data_add(tmp_path):
    from zoo.core.images import CORRUPT, ImageRefused, decode_image

    bad = _dds_of_an_unknown_pixel_format(tmp_path / "bad.dds")
    with pytest.raises(ImageRefused) as refused:
        decode_image(bad, 1, 28, 28)  # the folder datasets' path: counted and skipped
    assert refused.value.reason == CORRUPT
    with pytest.raises(UsageError, match=r"bad\.dds is not an image PIL can read \(corrupt or truncated"):
        load_image(bad, (1, 28, 28))


def test_an_image_past_the_bomb_limit_is_refused_without_a_raw_warning(tmp_path, monkeypatch):
    from PIL import Image

    Image.new("L", (12, 12)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 144 pixels: Pillow warns (past 2x it raises)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(UsageError, match="decompression bomb"):
            load_image(tmp_path / "big.png", (1, 28, 28))
    assert seen == []


def test_image_preprocessing_in_the_metadata_is_what_zoo_does_to_a_photo(exported, tmp_path):
    """A client (onnxruntime-web) follows `image_preprocessing` step by step, with its own code, on a
    phone photo of a dark garment on white paper, stored sideways with an EXIF rotation: it must get
    the input zoo predicts from (README alone said some of it, in words)."""
    model = exported / "models" / "fashion-mlp" / "t0" / "model.onnx"
    meta = read_metadata(model)
    pre = meta["image_preprocessing"]
    assert pre["polarity"] == "light-on-dark" and pre["invert"] == "when-dark-on-light"
    assert (pre["resize"]["height"], pre["resize"]["width"]) == tuple(meta["input_shape"][1:])
    rng = np.random.default_rng(5)
    photo = np.full((90, 60, 3), 235, np.uint8) + rng.integers(0, 15, (90, 60, 3), dtype=np.uint8)
    photo[15:75, 10:50] = (50, 35, 90)  # a dark garment
    photo[20:30, 5:55] = (70, 60, 40)  # its sleeves
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; viewers rotate by 90° clockwise
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path, exif=exif)

    x = None
    for step in pre["steps"]:
        if step == "exif_orientation":
            with Image.open(path) as image:
                assert image.getexif()[0x0112] == 6
                x = np.rot90(np.asarray(image.convert("RGB")), k=-1)
        elif step == "color":
            assert pre["color"] == "grayscale" and pre["alpha"] == "ignored"
            x = np.rint(x.astype(np.float64) @ np.array(pre["grayscale_weights"])).astype(np.uint8)
        elif step == "resize":
            size = (pre["resize"]["width"], pre["resize"]["height"])
            assert pre["resize"]["antialias"] and not pre["resize"]["keep_aspect_ratio"]
            x = np.asarray(Image.fromarray(x).resize(size, Image.Resampling[pre["resize"]["filter"].upper()]))
        elif step == "invert":
            x = 255 - x  # the garment is darker than the paper
        elif step == "normalize":
            x = (x.astype(np.float64) / pre["scale"] - np.array(pre["mean"])) / np.array(pre["std"])
    zoo = normalise(load_image(path, meta["input_shape"], invert=True)[None], meta["mean"], meta["std"])
    one_level = 1.01 / 255 / pre["std"][0]
    assert np.abs(zoo[0, 0] - x).max() <= one_level  # the grayscale conversion rounds in integers
    negative = normalise(load_image(path, meta["input_shape"])[None], meta["mean"], meta["std"])
    assert np.abs(negative[0, 0] - x).max() > 1  # without the inversion the model sees another picture


def test_rgb_models_describe_colour_photos():
    pre = image_preprocessing((3, 32, 32), [0.49, 0.48, 0.45], [0.25, 0.24, 0.26], "natural")
    assert pre["color"] == "rgb" and pre["grayscale_weights"] is None and pre["invert"] == "never"
    assert pre["resize"]["height"] == pre["resize"]["width"] == 32


@pytest.fixture
def files(tmp_path):
    model = tmp_path / "model.onnx"
    make_model(model, GRAY)
    small, big = tmp_path / "small.png", tmp_path / "big.jpg"
    Image.fromarray(pixels(1, GRAY)[0, 0], mode="L").save(small)
    colour = np.random.default_rng(2).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    Image.fromarray(colour, mode="RGB").save(big)
    return model, small, big


def test_cli_prints_a_table(files):
    model, small, big = files
    result = runner.invoke(app, ["predict", str(model), str(small), str(big), "--top", "2"])
    assert result.exit_code == 0, result.output
    classifier = OnnxClassifier.load(model, threads=1)
    names = classify_files(classifier, [small, big])
    assert "tiny-linear" in result.stdout and "top 2" in result.stdout
    assert small.name in result.stdout and big.name in result.stdout
    assert all(r["class_name"] in result.stdout for r in names)


def test_cli_json(files):
    model, small, big = files
    result = runner.invoke(
        app, ["predict", str(model), str(small), str(big), "--json", "--top", "4", "--invert"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["path"] for r in rows] == [str(small), str(big)]
    classifier = OnnxClassifier.load(model, threads=1)
    expected = classify_files(classifier, [small, big], invert=True, top=4)
    assert [r["class_name"] for r in rows] == [r["class_name"] for r in expected]
    for row in rows:
        assert row["class_name"] in FASHION and 0 < row["probability"] <= 1 and len(row["top"]) == 4


@pytest.mark.parametrize(
    "case", ["missing model", "corrupt model", "no metadata", "text image", "missing image"]
)
def test_cli_errors_are_one_line(files, tmp_path, case):
    model, small, _ = files
    image = small
    if case == "missing model":
        model, message = tmp_path / "absent.onnx", "does not exist"
    elif case == "corrupt model":
        model, message = tmp_path / "corrupt.onnx", "is not a valid ONNX model"
        model.write_bytes(np.random.default_rng(0).bytes(2048))
    elif case == "no metadata":
        model, message = tmp_path / "bare.onnx", "has no zoo metadata"
        make_model(model, GRAY, with_metadata=False)
    elif case == "text image":
        image, message = tmp_path / "notes.txt", "is not an image PIL can read"
        image.write_text("hello\n")
    else:
        image, message = tmp_path / "absent.png", "does not exist"
    result = runner.invoke(app, ["predict", str(model), str(image)])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
