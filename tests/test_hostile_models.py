"""Trust nothing you read (issue 25): predict, bench and compare open every model file through the one
validating open of the exported-model contract, refuse a hostile file with one line naming the file and
the key, write nothing outside their folders, and never hand back a wrong answer that looks like one.

The corpus (tests/hostile.py) is tiny ONNX graphs with one broken promise each; bench and compare run on
a 50-image Fashion-MNIST written in the official IDX format, so every test takes about a second."""

import json
import re

import numpy as np
import pytest
from fakedata import make_idx_dataset
from hostile import FASHION, write_model
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import UsageError, ZooError
from zoo.export.exported import CHUNK, ExportedModelError, chunked_logits
from zoo.inference.bench import BenchOptions, run_bench, save_results
from zoo.inference.bench_results import BenchResultsError
from zoo.inference.compare import compare
from zoo.inference.predict import OnnxClassifier, classify_files, load_image

runner = CliRunner()
QUICK = dict(runtimes=["onnxruntime"], batch_sizes=(1,), warmup=0, iters=1, min_seconds=0.0)
QUICK_CLI = ["--runtime", "onnxruntime", "--batch-sizes", "1", "--warmup", "0", "--iters", "1"]
TRAVERSAL = "../../../escape/pwned"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_idx_dataset(tmp_path_factory.mktemp("fashion"), 100, 50)


def bench(path, data_dir, **options):
    return run_bench(str(path), BenchOptions(data_dir=str(data_dir), **{**QUICK, **options}))


def refusals(path, data_dir) -> dict[str, BaseException | None]:
    """What each reader raises on `path` (None: nothing): predict classifying two images with it, bench
    measuring it, compare comparing it with itself."""
    calls = {
        "predict": lambda: OnnxClassifier.load(path).classify(np.zeros((2, 28, 28), np.uint8)),
        "bench": lambda: bench(path, data_dir),
        "compare": lambda: compare([str(path), str(path)], data_dir=str(data_dir), measure_latency=False),
    }
    raised: dict[str, BaseException | None] = {}
    for reader, call in calls.items():
        try:
            call()
            raised[reader] = None
        except Exception as exc:
            raised[reader] = exc
    return raised


def assert_refused_everywhere(path, data_dir, message: str) -> None:
    """Every reader raises a ZooError: one line naming the file, matching `message` (a regex)."""
    for reader, exc in refusals(path, data_dir).items():
        assert isinstance(exc, ZooError), f"{reader} on {path.name}: {exc!r}"
        assert "\n" not in str(exc) and str(path) in str(exc), f"{reader}: {exc}"
        assert re.search(message, str(exc)), f"{reader}: {exc}"


def assert_clean_exit(result) -> None:
    """An expected error: exit 1 or 2 through typer.Exit, never an exception escaping the command."""
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def written_outside(root, *allowed) -> list:
    """Files under `root` that are none of `allowed` and in none of the `allowed` folders."""
    return [
        p for p in root.rglob("*") if p.is_file() and not any(p == a or p.is_relative_to(a) for a in allowed)
    ]


@pytest.mark.parametrize(
    "key, value",
    [("model", TRAVERSAL), ("dataset", "../../fashion-mnist"), ("model", "/tmp/x"), ("model", "a b")],
)
def test_a_name_that_would_become_a_path_is_refused_by_every_reader(tmp_path, data_dir, key, value):
    path = write_model(tmp_path / "m.onnx", **{key: value})
    assert_refused_everywhere(path, data_dir, rf"malformed zoo metadata \({key}: .* is not a valid name")


def test_bench_never_builds_a_file_name_from_an_unchecked_name(tmp_path, data_dir):
    """A row's model name becomes the name of its confusion-matrix PNG: checked, even on a report that
    was built or changed in memory, so it cannot lead out of the results folder."""
    model = write_model(tmp_path / "m.onnx")
    report = bench(model, data_dir)
    report.results[0].model = TRAVERSAL
    out = tmp_path / "a" / "b" / "bench"
    with pytest.raises(UsageError, match="is not a valid name"):
        save_results(report, out)
    assert written_outside(tmp_path, model, out) == []


def test_cli_bench_of_a_file_with_a_traversal_name_writes_nothing_outside(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    model = write_model(tmp_path / "m.onnx", model=TRAVERSAL)
    out = tmp_path / "a" / "b" / "bench"
    args = [
        "bench",
        str(model),
        *QUICK_CLI,
        "--min-seconds",
        "0",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
    ]
    assert_clean_exit(runner.invoke(app, args))
    assert written_outside(tmp_path, model, out) == []


def test_a_graph_whose_outputs_disagree_with_its_class_names(tmp_path, data_dir):
    """Five logits and ten class names: bench and compare skipped the graph check and hit an IndexError."""
    fixed = write_model(tmp_path / "fixed.onnx", outputs=5)
    assert_refused_everywhere(fixed, data_dir, "has 5 outputs but its metadata lists 10 class names")
    # a symbolic class axis no shape inference resolves hides the width until the graph runs
    symbolic = write_model(tmp_path / "symbolic.onnx", output_dims=("batch", "classes"), hidden_width=5)
    raised = refusals(symbolic, data_dir)
    for reader in ("predict", "compare"):
        assert isinstance(raised[reader], ExportedModelError), repr(raised[reader])
        assert "returns logits of shape (5,) but its metadata lists 10 class names" in str(raised[reader])
    (row,) = bench(symbolic, data_dir).results
    assert not row.available and "returns logits of shape (5,)" in row.reason


@pytest.mark.parametrize(
    "dims",
    [("batch", 1, "height", "width"), (1, 1, 28, 28), ("batch", 1, 14, 14)],
    ids=["symbolic size", "fixed batch", "other size"],
)
def test_a_graph_input_that_disagrees_with_the_metadata_is_refused(tmp_path, data_dir, dims):
    """The metadata says 28x28 with a dynamic batch; a graph taking any size (its weights want 14x14)
    or one batch size fails later, inside ONNX Runtime, or not at all."""
    path = write_model(tmp_path / "m.onnx", input_dims=dims, features=196 if "height" in dims else None)
    shape = re.escape(str(list(dims)))
    assert_refused_everywhere(path, data_dir, rf"takes inputs of shape {shape} but its metadata says")


@pytest.mark.parametrize("shape", [[1, 30000, 30000], [1, 28, 4097], [5, 28, 28]])
def test_an_input_too_large_to_hold_is_refused_before_anything_is_allocated(tmp_path, data_dir, shape):
    c = shape[0]
    changes = dict(input_shape=shape, mean=[0.5] * c, std=[0.25] * c)
    path = write_model(tmp_path / "m.onnx", input_dims=("batch", *shape), pooled=True, **changes)
    assert_refused_everywhere(path, data_dir, r"\(input_shape: .* is larger than zoo reads")


def test_a_normalisation_that_would_overflow_the_inputs_is_refused(tmp_path, data_dir):
    """A std of 1e-30 made every input inf and every probability NaN (and `--json` printed NaN)."""
    for i, change in enumerate(
        [
            {"std": [1e-30]},
            {"std": [5e-7]},
            {"std": [float("nan")]},
            {"std": [float("inf")]},
            {"mean": [1e30]},
        ]
    ):
        path = write_model(tmp_path / f"m{i}.onnx", **change)
        assert_refused_everywhere(path, data_dir, rf"malformed zoo metadata \({next(iter(change))}\.0: ")


def test_class_names_that_would_mislead_a_terminal_or_merge_two_classes_are_refused(tmp_path, data_dir):
    """C0 and C1 control characters (\\x9b starts an ANSI sequence too), bidi overrides and a name given
    twice (per-class figures are keyed by name) are refused; brackets and slashes are plain text."""
    for i, name in enumerate(["\x1b[31mBag", "\x9b31mBag", "Bag\u202e", "Bag\u2066", "Ankle boot"]):
        path = write_model(tmp_path / f"m{i}.onnx", class_names=[*FASHION[:8], name, "Ankle boot"])
        assert_refused_everywhere(path, data_dir, r"malformed zoo metadata \(class_names\.[89]: ")
    plain = [*FASHION[:8], "[/]", "[bold]Ankle/boot[/]"]
    path = write_model(tmp_path / "plain.onnx", class_names=plain)
    assert OnnxClassifier.load(path).class_names == plain
    (row,) = bench(path, data_dir).results
    assert row.available and list(row.metrics.per_class) == plain


def test_nan_logits_are_never_a_prediction(tmp_path, data_dir):
    """A graph returning NaN: argmax said class 0 with NaN probabilities, and results.json held NaN."""
    path = write_model(tmp_path / "m.onnx", fill=float("nan"))
    raised = refusals(path, data_dir)
    for reader in ("predict", "compare"):
        assert isinstance(raised[reader], ExportedModelError), repr(raised[reader])
        assert "returns NaN or infinite logits" in str(raised[reader])
    report = bench(path, data_dir)
    assert not report.results[0].available and "NaN or infinite logits" in report.results[0].reason
    folder = save_results(report, tmp_path / "out")
    json.loads((folder / "results.json").read_text(), parse_constant=pytest.fail)


def test_compare_refuses_exports_that_name_their_classes_differently(tmp_path, data_dir):
    a = write_model((tmp_path / "a").mkdir() or tmp_path / "a" / "model.onnx")
    renamed = [*FASHION[:7], "Trainer", *FASHION[8:]]
    b = write_model((tmp_path / "b").mkdir() or tmp_path / "b" / "model.onnx", class_names=renamed)
    with pytest.raises(UsageError, match=r"name their classes differently \('Sneaker' against 'Trainer'\)"):
        compare([str(a), str(b)], data_dir=str(data_dir), measure_latency=False)


def test_results_are_never_written_with_nan(tmp_path, data_dir):
    """JSON has no NaN: Python's json writes one anyway, and every strict reader refuses the file."""
    report = bench(write_model(tmp_path / "m.onnx"), data_dir)
    report.results[0].log_loss = float("nan")
    with pytest.raises(
        BenchResultsError, match=r"results\.json: results\.0\.log_loss is not a finite number"
    ):
        save_results(report, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before the first file


def test_bench_refuses_a_batch_that_cannot_fit_in_memory_before_loading_any_data(tmp_path, monkeypatch):
    path = write_model(tmp_path / "m.onnx")
    missing = str(tmp_path / "no-data-here")  # loading any data would fail with a DataError
    options = BenchOptions(**{**QUICK, "batch_sizes": (1, 10**12)}, data_dir=missing)
    with pytest.raises(
        UsageError, match=r"^batch size 1000000000000 of 1x28x28 images .* needs about [\d,.]+ TiB"
    ):
        run_bench(str(path), options)
    monkeypatch.setenv("COLUMNS", "200")
    args = ["bench", str(path), *QUICK_CLI[:2], "--batch-sizes", "1,1000000000000", "--data-dir", missing]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert_clean_exit(result)
    assert result.exit_code == 2 and "1000000000000" in result.stderr


def test_large_images_are_run_a_few_at_a_time():
    """The float32 copy of one inference call stays small (zoo.export.exported.CHUNK_BYTES), however large the
    images: 256 RGB images of 4096x4096 pixels were one 48 GiB call."""
    sizes = []

    def run(x):
        sizes.append(len(x))
        return np.zeros((len(x), 10), np.float32)

    pixels = np.zeros((3, 3, 4096, 4096), np.uint8)  # 192 MiB of float32 an image
    assert chunked_logits(run, pixels, [0.5] * 3, [0.25] * 3).shape == (3, 10)
    assert sizes == [1, 1, 1]
    sizes.clear()
    chunked_logits(run, np.zeros((600, 1, 28, 28), np.uint8), [0.5], [0.25])
    assert sizes == [CHUNK, CHUNK, 600 - 2 * CHUNK]  # small images still go CHUNK at a time


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    """Pillow's convert("L") clips 16-bit pixels to 255: a 16-bit photo became white."""
    sixteen = (np.arange(28 * 28).reshape(28, 28) * 83).astype(np.uint16)
    expected = np.rint(sixteen * (255 / 65535)).astype(np.uint8)
    Image.fromarray(sixteen).save(tmp_path / "a.png")  # mode I;16
    Image.fromarray(sixteen).save(tmp_path / "a.pgm")  # read back as mode I
    for name in ("a.png", "a.pgm"):
        assert np.array_equal(load_image(tmp_path / name, (1, 28, 28))[0], expected), name
        rgb = load_image(tmp_path / name, (3, 28, 28))
        assert all(np.array_equal(channel, expected) for channel in rgb), name
    # 32-bit and float pixels have no range the file states: refused, not guessed
    Image.fromarray(sixteen.astype(np.int32) * 1000).save(tmp_path / "wide.tiff")
    Image.fromarray(sixteen.astype(np.float32)).save(tmp_path / "float.tiff")
    for name, what in (("wide.tiff", "32-bit integer"), ("float.tiff", "floating-point")):
        with pytest.raises(UsageError, match=f"holds {what} pixels"):
            load_image(tmp_path / name, (1, 28, 28))


def test_sklearn_refuses_pixels_outside_0_to_255():
    """They were clipped without a word: 300 became 255 and -40 became 0."""
    from zoo.sklearn import ZooClassifier

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, 784)).astype(np.float64), np.arange(20) % 2
    with pytest.raises(ValueError, match=r"raw pixels in the range 0\.\.255; got values from 0 to 300"):
        ZooClassifier("fashion-mlp", epochs=1).fit(np.where(x > 250, 300.0, x), y)
    fitted = ZooClassifier("fashion-mlp", epochs=1, batch_size=8).fit(x, y)
    with pytest.raises(ValueError, match=r"got values from -40 to"):
        fitted.predict(np.where(x < 5, -40.0, x))


def test_cli_refuses_hostile_files_without_a_traceback(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    tiny_std = write_model(tmp_path / "tiny.onnx", std=[1e-30])
    result = runner.invoke(app, ["predict", str(tiny_std), str(image), "--json"])
    assert_clean_exit(result)
    assert "NaN" not in result.stdout
    wide = write_model(tmp_path / "wide.onnx", outputs=5)
    args = ["compare", str(wide), str(wide), "--no-latency", "--data-dir", str(data_dir)]
    assert_clean_exit(runner.invoke(app, args))
    symbolic = write_model(tmp_path / "symbolic.onnx", input_dims=("batch", 1, "h", "w"), features=784)
    args = ["bench", str(symbolic), *QUICK_CLI, "--data-dir", str(data_dir), "--out", str(tmp_path / "o")]
    assert_clean_exit(runner.invoke(app, args))
    rows = classify_files(OnnxClassifier.load(write_model(tmp_path / "fine.onnx")), [image])
    assert rows[0]["class_name"] in FASHION  # the same command on a sound file answers
