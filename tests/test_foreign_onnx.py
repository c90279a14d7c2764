"""Any ONNX image classifier (issue 27): `zoo bench`, `zoo compare` and `zoo predict` on .onnx files that
zoo did not export, told how to feed them.

The foreign files are real: a small network built from torchvision's blocks, trained a few steps on the
small Fashion-MNIST files and exported with plain `torch.onnx.export` (no zoo metadata), in NCHW, in NHWC,
with a static batch axis, with permuted outputs, for 32x32 inputs. What they score is checked against
PyTorch on the same images with the same preprocessing, computed here by hand.
"""

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from cliutil import assert_clean_error
from PIL import Image
from torch import nn
from torchvision.ops import Conv2dNormActivation
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import UsageError, ZooError
from zoo.core.fileio import sha256_file
from zoo.export.exporter import ExportOptions, export_run
from zoo.inference.bench import BenchOptions, run_bench, save_results
from zoo.inference.bench_results import read_results
from zoo.inference.compare import compare
from zoo.inference.foreign import preprocessing, read_preprocessing
from zoo.inference.predict import OnnxClassifier
from zoo.train.runs import train_run

pytestmark = pytest.mark.usefixtures("fake_fashion_dir")
runner = CliRunner()

# The network's own normalisation, unlike the dataset's statistics: zoo must use what it is told.
MEAN, STD = 0.25, 0.35
FEED = ["--dataset", "fashion-mnist", "--mean", str(MEAN), "--std", str(STD)]
QUICK = dict(batch_sizes=(1, 8), warmup=1, iters=3, min_seconds=0.0)
QUICK_ARGS = ["--batch-sizes", "1,8", "--warmup", "1", "--iters", "3", "--min-seconds", "0"]
# output j of the permuted model is the original's class PERM[j]
PERM = [3, 7, 0, 9, 1, 5, 2, 8, 6, 4]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def _network(classes: int = 10) -> nn.Module:
    """torchvision's conv block, then a mean over columns: the fake images put each class in its own
    band of rows, which the mean keeps."""
    return nn.Sequential(
        Conv2dNormActivation(1, 4, 3, stride=2),
        nn.AvgPool2d((1, 14)),
        nn.Flatten(),
        nn.Linear(56, classes),
    )


class _NHWC(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.permute(0, 3, 1, 2))


class _Larger(nn.Module):
    """Takes 32x32 images and scales them to the network's 28x28 inside the graph (torchvision's
    models do the same with their own sizes)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False))


class _Permuted(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[:, PERM]


def _export(model: nn.Module, path, example_shape, *, dynamic: bool = True, input_name: str = "input"):
    """Plain torch.onnx.export, as anyone would call it: no zoo metadata. In eval mode, which the exporter
    restores afterwards: a wrapper left in training mode would put the shared network back into it."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(*example_shape),),
            str(path),
            input_names=[input_name],
            output_names=["scores"],
            dynamic_axes={input_name: {0: "n"}, "scores": {0: "n"}} if dynamic else None,
            dynamo=False,
        )
    return path


@pytest.fixture(scope="module")
def net(fake_fashion):
    """Trained just enough (a few steps) to be right on some images and wrong on others, so an accuracy
    that matches PyTorch's means the same images were fed the same way."""
    data = fake_fashion[1]
    torch.manual_seed(0)
    model = _network()
    x = (data.train.images.float() / 255 - MEAN) / STD
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(6):
        i = torch.randint(0, len(x), (64,))
        loss = nn.functional.cross_entropy(model(x[i]), data.train.labels[i])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


class _Softmaxed(nn.Module):
    """What Keras-style files do: the probabilities are the graph's output."""

    def __init__(self, net: nn.Module, log: bool = False) -> None:
        super().__init__()
        self.net, self.log = net, log

    def forward(self, x):
        logits = self.net(x)
        return nn.functional.log_softmax(logits, 1) if self.log else nn.functional.softmax(logits, 1)


@pytest.fixture(scope="module")
def files(net, tmp_path_factory):
    folder = tmp_path_factory.mktemp("foreign")
    return {
        "nchw": _export(net, folder / "tiny.onnx", (1, 1, 28, 28)),
        "nhwc": _export(_NHWC(net), folder / "tiny_nhwc.onnx", (1, 28, 28, 1)),
        "static": _export(net, folder / "tiny_static.onnx", (1, 1, 28, 28), dynamic=False),
        "permuted": _export(_Permuted(net), folder / "tiny_perm.onnx", (1, 1, 28, 28)),
        "32": _export(_Larger(net), folder / "tiny32.onnx", (1, 1, 32, 32)),
        "softmax": _export(_Softmaxed(net), folder / "tiny_softmax.onnx", (1, 1, 28, 28)),
        "logsoftmax": _export(_Softmaxed(net, log=True), folder / "tiny_logsoftmax.onnx", (1, 1, 28, 28)),
    }


@pytest.fixture(scope="module")
def zoo_export(fake_fashion, tmp_path_factory):
    """A zoo export of fashion-mlp (1 epoch on the small files), to compare the foreign files with."""
    root = tmp_path_factory.mktemp("zoo")
    run = train_run("fashion-mlp", {"epochs": 1}, data=fake_fashion[1], run_dir=root / "runs" / "mlp")
    export_run(run.run_dir, ExportOptions(out=root / "models" / "fashion-mlp" / "t0"))
    return run.run_dir, root / "models" / "fashion-mlp" / "t0"


def torch_predictions(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model((images.float() / 255 - MEAN) / STD).argmax(1).numpy()


def torch_accuracy(model, fake_fashion, images=None) -> float:
    test = fake_fashion[1].test
    predicted = torch_predictions(model, test.images if images is None else images)
    return float((predicted == test.labels.numpy()).mean())


def _feed(**changes):
    return preprocessing(**{"dataset": "fashion-mnist", "mean": [MEAN], "std": [STD], **changes})


def _bench(path, **changes):
    options = BenchOptions(runtimes=["onnxruntime", "torch-cpu"], foreign=_feed(**changes), **QUICK)
    return {r.runtime: r for r in run_bench(str(path), options).results}


# --------------------------------------------------------------------------------------------- bench


def test_bench_scores_what_pytorch_computes_and_says_whose_rows_they_are(net, files, fake_fashion, tmp_path):
    rows = _bench(files["nchw"])
    ort = rows["onnxruntime"]
    assert ort.available and ort.accuracy == pytest.approx(torch_accuracy(net, fake_fashion), abs=1e-9)
    assert 0.3 < ort.accuracy < 0.95  # neither chance nor perfect: equality above means something
    assert [lat.batch_size for lat in ort.latency] == [1, 8]
    # identified by the file's own sha256, never by weights it does not have
    assert ort.file_sha256 == sha256_file(files["nchw"]) and ort.weights_sha256 is None
    assert ort.foreign.layout == "nchw" and ort.foreign.mean == [MEAN] and not ort.foreign.static_batch
    assert ort.foreign.input_name == "input" and ort.foreign.output_name == "scores"
    torch_row = rows["torch-cpu"]
    assert not torch_row.available and "no PyTorch weights" in torch_row.reason
    assert ort.agreement_with_torch_cpu is None

    report = run_bench(
        str(files["nchw"]),
        BenchOptions(runtimes=["onnxruntime"], foreign=_feed(), **QUICK),
    )
    folder = save_results(report, tmp_path / "b")
    md = (folder / "results.md").read_text()
    assert "| tiny (foreign ONNX) | onnxruntime | fp32 | " in md
    assert "tiny (foreign ONNX, tiny.onnx, sha256 " in md and "mean 0.25, std 0.35" in md
    assert "output 'scores' (logits)" in md
    again = read_results(folder / "results.json")
    assert again.to_dict() == json.loads((folder / "results.json").read_text())
    assert again.results[0].foreign.dataset == "fashion-mnist"


def test_nhwc_file_scores_the_same_as_its_nchw_twin(files):
    nchw, nhwc = _bench(files["nchw"]), _bench(files["nhwc"], layout="nhwc")
    assert nhwc["onnxruntime"].foreign.layout == "nhwc"
    assert nhwc["onnxruntime"].accuracy == nchw["onnxruntime"].accuracy
    assert nhwc["onnxruntime"].metrics.confusion_matrix == nchw["onnxruntime"].metrics.confusion_matrix


def test_a_static_batch_axis_is_timed_at_batch_1_only_and_says_so(files, tmp_path):
    out = tmp_path / "b"
    args = ["bench", str(files["static"]), *FEED, "--runtime", "onnxruntime", *QUICK_ARGS, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "static batch axis: batch 1 only" in result.stdout
    row = json.loads((out / "results.json").read_text())["results"][0]
    assert row["foreign"]["static_batch"] is True
    assert [lat["batch_size"] for lat in row["latency"]] == [1]  # 8 was asked
    dynamic = _bench(files["nchw"])["onnxruntime"]
    assert row["accuracy"] == dynamic.accuracy


@pytest.mark.parametrize("file, layout", [("nhwc", "nhwc"), ("static", None)])
def test_openvino_runs_the_file_as_it_is_fp32_only(files, file, layout):
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    options = BenchOptions(runtimes=["onnxruntime", "openvino"], foreign=_feed(layout=layout), **QUICK)
    rows = {(r.runtime, r.variant): r for r in run_bench(str(files[file]), options).results}
    assert set(rows) == {("onnxruntime", "fp32"), ("openvino", "fp32")}  # no bf16: zoo made no such file
    ov = rows[("openvino", "fp32")]
    assert ov.available and ov.inference_precision == "f32", ov
    assert ov.metrics.confusion_matrix == rows[("onnxruntime", "fp32")].metrics.confusion_matrix
    assert [lat.batch_size for lat in ov.latency] == ([1] if file == "static" else [1, 8])


def test_class_names_map_permuted_outputs_onto_the_datasets_labels(files, fake_fashion):
    names = list(fake_fashion[1].info.class_names)
    mapped = _bench(files["permuted"], class_names=[names[j] for j in PERM])["onnxruntime"]
    plain = _bench(files["nchw"])["onnxruntime"]
    assert mapped.accuracy == plain.accuracy
    assert mapped.metrics.confusion_matrix == plain.metrics.confusion_matrix
    assert mapped.foreign.class_names == [names[j] for j in PERM]
    unmapped = _bench(files["permuted"])["onnxruntime"]  # read in the dataset's order: wrong labels
    assert unmapped.accuracy < plain.accuracy - 0.2


def test_size_resizes_the_test_images_as_predict_resizes_files(net, files, fake_fashion):
    row = _bench(files["32"], size=32)["onnxruntime"]
    assert row.foreign.input_shape == [1, 32, 32]
    resized = np.stack(
        [
            np.asarray(Image.fromarray(image[0]).resize((32, 32), Image.Resampling.BILINEAR))[None]
            for image in fake_fashion[1].test.images.numpy()
        ]
    )
    expected = torch_accuracy(_Larger(net), fake_fashion, torch.from_numpy(resized))
    assert row.accuracy == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------------------------------ compare, predict


def test_compare_a_foreign_file_with_a_zoo_export_and_a_run(net, files, zoo_export, fake_fashion):
    run_dir, export = zoo_export
    result = compare([str(files["nchw"]), str(export), str(run_dir)], measure_latency=False, foreign=_feed())
    foreign, exported, run = result["entries"]
    assert [e["kind"] for e in result["entries"]] == ["foreign", "onnx", "run"]
    assert foreign["label"] == "tiny (foreign ONNX)" and foreign["dataset"] == "fashion-mnist"
    assert foreign["accuracy"] == pytest.approx(torch_accuracy(net, fake_fashion), abs=1e-9)
    # agreement with the first entry, counted by hand from both models' predictions
    ours = torch_predictions(net, fake_fashion[1].test.images)
    classifier = OnnxClassifier.load(export / "model.onnx")
    theirs = classifier.classify(fake_fashion[1].test.images.numpy()).labels
    assert foreign["agreement"] == 1.0
    assert exported["agreement"] == pytest.approx(float((ours == theirs).mean()), abs=1e-9)
    assert run["agreement"] == pytest.approx(exported["agreement"], abs=0.01)
    assert set(result["f1_difference"]) == set(fake_fashion[1].info.class_names)


def test_cli_compare_shows_the_foreign_file_and_refuses_another_dataset(files, zoo_export):
    _, export = zoo_export
    result = runner.invoke(app, ["compare", str(files["nchw"]), str(export), "--no-latency", *FEED])
    assert result.exit_code == 0, result.output
    assert "foreign ONNX" in result.stdout and "agreement" in result.stdout
    mnist = [a if a != "fashion-mnist" else "mnist" for a in FEED]
    other = runner.invoke(app, ["compare", str(files["nchw"]), str(export), "--no-latency", *mnist])
    assert_clean_error(other, 2, "these models are for different datasets (fashion-mnist, mnist)")
    neither = runner.invoke(app, ["compare", str(export), str(export), "--no-latency", *FEED])
    assert_clean_error(neither, 2, "none of")


def test_predict_prints_the_datasets_class_names(net, files, fake_fashion, tmp_path):
    test = fake_fashion[1].test
    names = fake_fashion[1].info.class_names
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(test.images[i, 0].numpy()).save(paths[-1])
    expected = [names[j] for j in torch_predictions(net, test.images[:4])]
    result = runner.invoke(app, ["predict", str(files["nchw"]), *map(str, paths), *FEED, "--json"])
    assert result.exit_code == 0, result.output
    assert [row["class_name"] for row in json.loads(result.stdout)] == expected
    permuted = [*FEED, "--class-names", ",".join(names[j] for j in PERM)]
    again = runner.invoke(app, ["predict", str(files["permuted"]), *map(str, paths), *permuted, "--json"])
    assert [row["class_name"] for row in json.loads(again.stdout)] == expected
    table = runner.invoke(app, ["predict", str(files["nchw"]), str(paths[0]), *FEED])
    assert "foreign ONNX" in table.stdout and expected[0] in table.stdout


def test_sidecar_gives_the_same_keys_and_options_override_it(files, tmp_path):
    sidecar = tmp_path / "feed.json"
    sidecar.write_text(json.dumps({"dataset": "fashion-mnist", "mean": MEAN, "std": [STD], "layout": "nhwc"}))
    prep = read_preprocessing(sidecar)
    assert prep.mean == [MEAN] and prep.layout == "nhwc"
    assert preprocessing(sidecar, layout="nchw").layout == "nchw"
    out = tmp_path / "b"
    args = ["bench", str(files["nhwc"]), "--preprocessing", str(sidecar), "--runtime", "onnxruntime"]
    result = runner.invoke(app, [*args, *QUICK_ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["results"][0]["foreign"]["layout"] == "nhwc"
    sidecar.write_text(json.dumps({"dataset": "fashion-mnist", "colour": "gray"}))
    bad = runner.invoke(app, [*args, *QUICK_ARGS])
    assert_clean_error(bad, 2, f"{sidecar} is not a valid preprocessing file (colour: unknown key")
    sidecar.write_text(json.dumps({"dataset": "fashion-mnist", "mean": MEAN, "std": "0.35"}))
    assert_clean_error(runner.invoke(app, [*args, *QUICK_ARGS]), 2, "(std: input should be a valid")


# ------------------------------------------------------------------------------------------ mismatches


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    """Files that fit nothing they could be told: seven outputs, a static batch of four."""
    folder = tmp_path_factory.mktemp("odd")
    torch.manual_seed(0)
    return {
        "seven": _export(_network(7).eval(), folder / "seven.onnx", (1, 1, 28, 28)),
        "batch4": _export(_network().eval(), folder / "four.onnx", (4, 1, 28, 28), dynamic=False),
    }


# What the file says against what the user said: each one line naming both, exit 2.
SHAPES = [
    (
        "nchw",
        ["--dataset", "cifar10"],
        "takes inputs (batch, 1, 28, 28) ('input') but cifar10 images are (batch, 3, 32, 32), both as "
        "(batch, C, H, W); it takes 1-channel images, not the dataset's 3-channel ones",
    ),
    (
        "32",
        [],
        "takes inputs (batch, 1, 32, 32) ('input') but fashion-mnist images are (batch, 1, 28, 28), "
        "both as (batch, C, H, W); pass --size 32",
    ),
    ("nhwc", [], "takes inputs (batch, 28, 28, 1) ('input') but fashion-mnist images are (batch, 1, 28, 28)"),
    ("seven", [], "gives outputs of shape (batch, 7) ('scores') but fashion-mnist has 10 classes"),
]
OPTIONS = [
    ("32", ["--size", "30"], "but --size 30 gives (batch, 1, 30, 30)"),
    ("nchw", ["--layout", "nhwc"], "pass --layout nchw"),
    ("batch4", [], "takes batches of exactly 4 images (a static batch axis)"),
    ("nchw", ["--class-names", "Sock"], "--class-names: 'Sock' is not a class of fashion-mnist"),
    ("nchw", ["--class-names", "Bag,Bag"], "--class-names: 'Bag' appears twice"),
    ("nchw", ["--class-names", "Bag,Coat"], "--class-names lists 2 classes but fashion-mnist has 10"),
    ("nchw", ["--mean", "0.1,0.2"], "--mean gives 2 values but fashion-mnist images have 1 channel"),
    ("nchw", ["--std", "0"], "--std (value 1): input should be greater than 0"),
    ("nchw", ["--mean", "nan"], "--mean (value 1): input should be a finite number"),
    ("nchw", ["--mean", "a"], "--mean takes one number or one per channel"),
    ("nchw", ["--layout", "nwhc"], "--layout: input should be 'nchw' or 'nhwc'"),
    ("nchw", ["--size", "0"], "--size must be an integer from 1 to 4096 (pixels per side) or HxW"),
    (
        "nchw",
        ["--variants", "int8"],
        "a foreign ONNX file is benchmarked as it is: --variants must include fp32",
    ),
]


def _invoke(command, path, extra, zoo_export, tmp_path):
    feed = [*FEED, *extra]
    if command == "bench":
        args = ["bench", str(path), *feed, "--runtime", "onnxruntime", *QUICK_ARGS]
    elif command == "compare":
        args = ["compare", str(path), str(zoo_export[1]), "--no-latency", *feed]
    else:
        image = tmp_path / "x.png"
        Image.new("L", (28, 28)).save(image)
        args = ["predict", str(path), str(image), *feed]
    return runner.invoke(app, args)


@pytest.mark.parametrize("file, extra, message", SHAPES + OPTIONS)
def test_bench_says_each_mismatch_in_one_line_exit_2(files, odd_files, tmp_path, file, extra, message):
    result = _invoke("bench", {**files, **odd_files}[file], extra, None, tmp_path)
    assert_clean_error(result, 2, message)


@pytest.mark.parametrize("file, extra, message", SHAPES)
@pytest.mark.parametrize("command", ["compare", "predict"])
def test_compare_and_predict_say_the_same(
    files, odd_files, zoo_export, tmp_path, command, file, extra, message
):
    result = _invoke(command, {**files, **odd_files}[file], extra, zoo_export, tmp_path)
    assert_clean_error(result, 2, message)


def test_the_feeding_options_describe_one_file_zoo_did_not_export(files, zoo_export):
    folder = runner.invoke(app, ["bench", str(files["nchw"].parent), *FEED])
    assert_clean_error(folder, 2, "describe one .onnx file zoo did not export; pass its path")
    export = runner.invoke(app, ["bench", str(zoo_export[1] / "model.onnx"), *FEED])
    assert_clean_error(export, 2, "is a zoo export: its metadata says how to feed it")


def test_a_foreign_file_needs_its_normalisation_said(files):
    result = runner.invoke(app, ["bench", str(files["nchw"]), "--dataset", "fashion-mnist"])
    assert_clean_error(result, 2, "--mean and --std missing (its normalisation is its own")
    plain = runner.invoke(app, ["bench", str(files["nchw"])])  # nothing said: the contract's refusal
    assert_clean_error(plain, 1, "has no zoo metadata; export it with `zoo export`, or say how to feed")


# ------------------------------------------------------------------------------------------- trust


def test_a_tampered_zoo_export_is_refused_as_before_never_run_as_foreign(zoo_export, tmp_path):
    _, export = zoo_export
    model = onnx.load(str(export / "model.onnx"))
    for prop in model.metadata_props:
        if prop.key == "std":
            prop.value = json.dumps([0.0])
    tampered = tmp_path / "tampered.onnx"
    onnx.save(model, str(tampered))
    plain = runner.invoke(app, ["bench", str(tampered), "--runtime", "onnxruntime", *QUICK_ARGS])
    assert_clean_error(plain, 1, "has malformed zoo metadata (std.0: input should be greater than 0)")
    described = runner.invoke(app, ["bench", str(tampered), *FEED, "--runtime", "onnxruntime", *QUICK_ARGS])
    assert_clean_error(described, 2, "is a zoo export: its metadata says how to feed it")
    predict = runner.invoke(app, ["predict", str(tampered), str(tmp_path / "x.png"), *FEED])
    assert_clean_error(predict, 2, "is a zoo export")
    compared = runner.invoke(app, ["compare", str(tampered), str(export), *FEED])
    assert_clean_error(compared, 2, "none of")
    with pytest.raises(UsageError, match="is a zoo export"):
        OnnxClassifier.load(export / "model.onnx", preprocessing=_feed())


def test_text_from_the_foreign_file_reaches_the_terminal_escaped(net, tmp_path):
    hostile = "img[bold]\x1b[31m\u202e"
    folder = tmp_path / "[red]dir\x1b[2J"
    folder.mkdir()
    path = _export(net, folder / "tiny.onnx", (1, 1, 28, 28), input_name=hostile)
    args = ["bench", str(path), *FEED, "--runtime", "onnxruntime", *QUICK_ARGS]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "input 'img[bold]\\x1b[31m\\u202e'" in result.stdout
    wrong = runner.invoke(app, [*args, "--layout", "nhwc"])
    assert_clean_error(wrong, 2, "('img[bold]\\x1b[31m\\u202e')")
    assert "[red]dir\\x1b[2J" in wrong.stderr and "\x1b" not in wrong.output


def test_a_foreign_files_rows_never_enter_a_runs_report(net, zoo_export, tmp_path):
    """A foreign file named like the run's model: its rows have no weights sha256, like an old zoo's, but
    the report must neither show them as the run's nor call them an old zoo's."""
    from zoo.report.bench import bench_section
    from zoo.train.checkpoint import read_record

    run_dir, _ = zoo_export
    record = read_record(run_dir)
    path = _export(net, tmp_path / "fashion-mlp.onnx", (1, 1, 28, 28))
    report = run_bench(str(path), BenchOptions(runtimes=["onnxruntime"], foreign=_feed(), **QUICK))
    assert report.results[0].model == record.model
    folder = save_results(report, tmp_path / "b")
    section = bench_section(record, folder / "results.json")
    notes = " ".join(p.text for p in section.parts if hasattr(p, "text"))
    assert not section.images() and "No benchmark results for exports of this run's weights" in notes
    assert "older zoo" not in notes


class _Overflowing(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) * 1e38 * 1e38


def test_infinite_logits_are_refused_not_turned_into_predictions(net, tmp_path):
    path = _export(_Overflowing(net), tmp_path / "overflowing.onnx", (1, 1, 28, 28))
    row = _bench(path)["onnxruntime"]
    assert (
        not row.available and "NaN or infinite logits" in row.reason and "check --mean, --std" in row.reason
    )
    image = tmp_path / "x.png"
    Image.new("L", (28, 28), 200).save(image)
    result = runner.invoke(app, ["predict", str(path), str(image), *FEED])
    assert_clean_error(result, 1, "returns NaN or infinite logits on these images")


def test_a_file_name_that_is_not_a_model_name_is_refused(net, tmp_path):
    path = _export(net, tmp_path / "my model.onnx", (1, 1, 28, 28))
    with pytest.raises(ZooError, match="'my model' becomes the model's name"):
        run_bench(str(path), BenchOptions(runtimes=["onnxruntime"], foreign=_feed(), **QUICK))


def test_results_files_of_older_zoos_still_read_and_a_bad_feed_is_named(tmp_path):
    import benchfiles

    from zoo.inference.bench_results import BenchResultsError

    old = tmp_path / "old.json"
    old.write_text(json.dumps(benchfiles.old_file()))
    assert all(r.foreign is None and r.file_sha256 is None for r in read_results(old).results)
    doc = benchfiles.old_file()
    feed = {
        "dataset": "fashion-mnist",
        "class_names": ["a"],
        "mean": [0.5],
        "std": [0.5],
        "layout": "nwhc",
        "input_shape": [1, 28, 28],
        "input_name": "x",
        "output_name": "y",
        "static_batch": False,
    }
    doc["results"] = [benchfiles.measured("onnxruntime", file_sha256="cd" * 32, foreign=feed)]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(BenchResultsError, match=r"results\.0\.foreign\.layout: input should be 'nchw' or"):
        read_results(bad)


# ----------------------------------------------------------------------------------- what outputs are


def _true_log_loss(net, fake_fashion) -> float:
    test = fake_fashion[1].test
    with torch.inference_mode():
        logits = net((test.images.float() / 255 - MEAN) / STD)
    return float(nn.functional.cross_entropy(logits, test.labels))


@pytest.mark.parametrize("file", ["softmax", "logsoftmax"])
def test_a_graph_ending_in_softmax_is_read_as_probabilities_not_softmaxed_again(
    net, files, fake_fashion, file
):
    """A second softmax kept the accuracy and gave a log loss of 1.56 for a true 0.22, without a word."""
    plain, ended = _bench(files["nchw"])["onnxruntime"], _bench(files[file])["onnxruntime"]
    assert ended.accuracy == plain.accuracy
    assert ended.log_loss == pytest.approx(_true_log_loss(net, fake_fashion), rel=1e-4)
    assert ended.foreign.outputs == ("probabilities" if file == "softmax" else "log-probabilities")
    assert plain.foreign.outputs == "logits"
    if file == "softmax":  # log-probabilities read as logits are harmless: softmax gives them back
        told_wrong = _bench(files[file], outputs="logits")[
            "onnxruntime"
        ]  # zoo's reading before: softmax again
        assert told_wrong.log_loss > ended.log_loss + 0.1


def test_predict_prints_the_models_own_probabilities_and_says_how_it_read_them(
    net, files, fake_fashion, tmp_path
):
    test = fake_fashion[1].test
    path = tmp_path / "0.png"
    Image.fromarray(test.images[0, 0].numpy()).save(path)
    with torch.inference_mode():
        expected = torch.softmax(net((test.images[:1].float() / 255 - MEAN) / STD), 1)[0]
    result = runner.invoke(app, ["predict", str(files["softmax"]), str(path), *FEED, "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)[0]
    assert row["probability"] == pytest.approx(float(expected.max()), abs=1e-5)
    table = runner.invoke(app, ["predict", str(files["softmax"]), str(path), *FEED])
    assert "outputs read as probabilities (the graph ends in Softmax)" in " ".join(table.stdout.split())


def test_outputs_declared_as_probabilities_that_are_not_are_one_line(files, tmp_path):
    path = tmp_path / "0.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    result = runner.invoke(
        app, ["predict", str(files["nchw"]), str(path), *FEED, "--outputs", "probabilities"]
    )
    assert_clean_error(result, 2, "outputs are not probabilities")
    bad = runner.invoke(app, ["predict", str(files["nchw"]), str(path), *FEED, "--outputs", "odds"])
    assert_clean_error(bad, 2, "--outputs")
