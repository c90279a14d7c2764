"""Dataset-agnostic variants (cnn, cnn-fast, mlp, resnet, resnet-compact) and `--dataset NAME`.

One function, registry.resolve_dataset, decides the dataset of every run; the run record keeps it, and what
reads a run (resume, export, bench, report, predict) takes it from there. Small files in the official
formats (tests/fakedata.py) stand in for MNIST and CIFAR-10; a catalog entry made here stands in for a
folder dataset of another size."""

import dataclasses
import json
from pathlib import Path

import fakedata
import numpy as np
import optuna
import pytest
import torch
from cliutil import assert_clean_error
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from zoo.core import paths
from zoo.core.errors import CheckpointError, UsageError
from zoo.data import Normalizer, catalog
from zoo.export.exporter import ExportOptions, export_run, read_metadata
from zoo.models.registry import (
    create_model,
    get_spec,
    input_shape_of,
    list_models,
    num_classes_of,
    parameter_count,
    resolve_dataset,
    search_space_params,
    suggest,
)
from zoo.sklearn import ZooClassifier
from zoo.train.checkpoint import RECORD, load_run, read_record
from zoo.train.config import resolve
from zoo.train.loop import predict_logits
from zoo.train.resume import list_unfinished
from zoo.train.runs import resume_run, train_run
from zoo.tune.ablate import AblateConfig, ablate
from zoo.tune.studies import load_study, open_storage
from zoo.tune.tuning import TuneConfig, tune
from zoo.weights.shipped import weights_of
from zoo.weights.store import no_weights_reason

runner = CliRunner()
AGNOSTIC = ["cnn", "cnn-fast", "mlp", "resnet", "resnet-compact"]
PRESET_OF = {name: f"fashion-{name}" for name in AGNOSTIC}


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """CIFAR-10 in its official format: 5 x 40 training and 40 test images, 3x32x32."""
    return fakedata.make_cifar_dataset(tmp_path_factory.mktemp("data") / "cifar10", n_per_batch=40)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """MNIST's four IDX files: 200 training and 60 test images, 1x28x28."""
    return fakedata.make_idx_dataset(tmp_path_factory.mktemp("data") / "mnist", n_train=200, n_test=60)


@pytest.fixture
def other_shapes(monkeypatch):
    """Two catalog entries of the shapes folder datasets take (`zoo data add --size 64`, a tiny one)."""
    for name, shape, classes in (("shapes64", (3, 64, 64), 5), ("tiny6", (1, 6, 6), 3)):
        info = catalog.DatasetInfo(name, tuple(f"c{i}" for i in range(classes)), shape, "made by a test")
        spec = catalog.DatasetSpec(info=info, format="idx", files=(), downloads=(), mirrors=())
        monkeypatch.setitem(catalog.BUILTIN, name, spec)


# ------------------------------------------------------------------------------------ the registry


def test_the_agnostic_variants_are_registered_without_a_dataset_or_weights():
    assert set(AGNOSTIC) <= set(list_models())
    for name in AGNOSTIC:
        spec = get_spec(name)
        assert spec.dataset is None and spec.recorded is None and weights_of(spec.name) is None
        assert "dataset-agnostic" in no_weights_reason(spec)
    for name in list_models("fashion-*") + list_models("mnist-*") + list_models("cifar10-*"):
        assert get_spec(name).dataset is not None, name


@pytest.mark.parametrize("name", AGNOSTIC)
def test_on_fashion_mnist_each_builds_its_preset_with_its_recipe(name):
    """The same network as its fashion-* preset on 28x28 (parameter for parameter), and the same recipe."""
    agnostic, preset = get_spec(name), get_spec(PRESET_OF[name])
    assert parameter_count(name, "fashion-mnist") == parameter_count(preset.name)
    assert agnostic.train == preset.train and agnostic.retrain == preset.retrain
    assert resolve(agnostic, dataset="fashion-mnist")[1] == resolve(preset)[1]
    shaped = search_space_params(agnostic, input_shape=(1, 28, 28))
    assert sorted(shaped) == sorted(search_space_params(preset))


@pytest.mark.parametrize("name", AGNOSTIC)
@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10", "shapes64", "tiny6"])
def test_each_builds_for_the_shape_and_classes_of_its_dataset(name, dataset, other_shapes):
    spec = get_spec(name)
    shape, classes = input_shape_of(spec, dataset), num_classes_of(spec, dataset)
    model = create_model(name, dataset).eval()
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear))
    assert (first.in_channels if isinstance(first, torch.nn.Conv2d) else first.in_features) in (
        shape[0],
        shape[0] * min(shape[1], 32) * min(shape[2], 32),  # the MLP flattens at most 32x32 per channel
    )
    with torch.no_grad():
        logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, classes) and torch.isfinite(logits).all()


def test_a_larger_image_does_not_grow_the_dense_layers(other_shapes):
    """The CNN's head is pooled to at most 8x8 and the MLP sees at most 32x32: 64x64 images cost the
    dense layers what 32x32 ones do (the conv weights never depend on the size)."""
    for name in ("cnn", "cnn-fast", "mlp", "resnet-compact"):
        assert parameter_count(name, "shapes64") == parameter_count(name, "cifar10") - 5 * _head(name), name


def _head(name: str) -> int:
    """Weights per class of the output layer (CIFAR-10 has 10 classes, shapes64 5)."""
    with torch.device("meta"):
        output = [m for m in create_model(name, "cifar10").modules() if isinstance(m, torch.nn.Linear)][-1]
    return output.in_features + 1


@pytest.mark.parametrize("name", AGNOSTIC)
@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10", "shapes64", "tiny6"])
def test_the_search_space_samples_valid_models_for_every_shape(name, dataset, other_shapes):
    spec = get_spec(name)
    shape, classes = input_shape_of(spec, dataset), num_classes_of(spec, dataset)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    blocks = set()
    for _ in range(6):
        trial = study.ask()
        hparams, _ = resolve(spec, suggest(spec, trial, shape), dataset)
        with torch.device("meta"):
            model = spec.builder(shape, classes, **hparams)
        assert model(torch.empty(2, *shape, device="meta")).shape == (2, classes)
        blocks.add(trial.params.get("conv_blocks", trial.params.get("stages")))
    if name in ("cnn", "resnet"):  # the block count a small image can survive, no more
        most = {"cnn": {6: 2}, "resnet": {6: 3}}[name].get(shape[1], 3)
        assert max(blocks) <= most and min(blocks) >= min(2, most)


# ------------------------------------------------------------------------------------ resolve_dataset


def test_resolve_dataset_rules():
    cnn, preset = get_spec("cnn"), get_spec("fashion-cnn")
    assert resolve_dataset(preset) == "fashion-mnist" == resolve_dataset(preset, "Fashion-MNIST")
    assert resolve_dataset(cnn, "cifar10") == "cifar10"
    with pytest.raises(UsageError, match=r"^cnn needs --dataset NAME; `zoo data list` shows the datasets$"):
        resolve_dataset(cnn)
    with pytest.raises(UsageError, match=r"fashion-cnn is bound to fashion-mnist; .*`cnn --dataset mnist`"):
        resolve_dataset(preset, "mnist")
    with pytest.raises(UsageError, match="unknown dataset 'nope'"):
        resolve_dataset(cnn, "nope")


COMMANDS = {
    "train": ["train"],
    "tune": ["tune", "--trials", "1"],
    "ablate": ["ablate", "--factor", "dropout=0.0", "--seeds", "1"],
}
RULES = [
    (["cnn"], "cnn needs --dataset NAME; `zoo data list` shows the datasets"),
    (
        ["fashion-cnn-fast", "--dataset", "cifar10"],
        "fashion-cnn-fast is bound to fashion-mnist; for cifar10 use the dataset-agnostic "
        "`cnn-fast --dataset cifar10`",
    ),
    (
        ["mnist-cnn", "--dataset", "fashion-mnist"],
        "for fashion-mnist use the dataset-agnostic `cnn --dataset",
    ),
    (["mlp", "--dataset", "nope"], "unknown dataset 'nope'"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, message", RULES)
def test_each_rule_through_the_cli_is_one_line_and_exit_2(command, args, message, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    result = runner.invoke(app, [*COMMANDS[command], *args])
    assert_clean_error(result, 2, message)
    assert not list(paths.runs_dir().glob("*/*"))  # refused before anything trained


def test_a_preset_takes_its_own_dataset_named_again(fake_fashion_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    args = [
        "train",
        "fashion-mlp",
        "--dataset",
        "fashion-mnist",
        "--epochs",
        "1",
        "--subset",
        "100",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dataset"] == "fashion-mnist"


# ------------------------------------------------------------------------------------ train, export, predict


@pytest.fixture(scope="module")
def cifar_run(cifar_dir, tmp_path_factory):
    """`zoo train cnn-fast --dataset cifar10`: one epoch on 100 of the small CIFAR files' images."""
    folder = tmp_path_factory.mktemp("runs") / "cnn-fast"
    args = ["train", "cnn-fast", "--dataset", "cifar10", "--epochs", "1", "--subset", "100"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_ARTIFACTS", str(folder))
        paths.set_artifacts_dir(None)
        result = runner.invoke(app, [*args, "--data-dir", str(cifar_dir), "--json"])
        paths.set_artifacts_dir(None)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_dir"]


def test_the_run_records_the_dataset_it_trained_on(cifar_run):
    record = read_record(cifar_run)
    assert (record.model, record.dataset, record.family) == ("cnn-fast", "cifar10", "cnn")
    assert record.input_shape == [3, 32, 32] and record.class_names == fakedata.CIFAR_CLASSES
    assert len(record.normalization["mean"]) == 3 and record.data["n_train"] == 100
    model, _ = load_run(cifar_run)
    assert (
        sum(p.numel() for p in model.parameters())
        == record.num_params
        == parameter_count("cnn-fast", "cifar10")
    )


def test_export_bench_report_and_predict_take_everything_from_the_run(
    cifar_run, cifar_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")
    # the artifacts folder the run was trained in: bench reads a run folder named in metadata only there
    trained_in = next(p for p in Path(cifar_run).parents if (p / "runs").is_dir())
    monkeypatch.setenv("ZOO_ARTIFACTS", str(trained_in))
    out = tmp_path / "export"
    result = export_run(cifar_run, ExportOptions(out=out), data_dir=str(cifar_dir))
    assert result.parity["fp32"]["passed"]
    meta = read_metadata(out / "model.onnx")
    assert (meta["model"], meta["dataset"], meta["input_shape"]) == ("cnn-fast", "cifar10", [3, 32, 32])
    assert (
        meta["class_names"] == fakedata.CIFAR_CLASSES
        and meta["mean"] == read_record(cifar_run).normalization["mean"]
    )

    bench = ["bench", str(out / "model.onnx"), "--runtime", "onnxruntime", "--runtime", "torch-cpu"]
    fast = ["--batch-sizes", "1", "--warmup", "1", "--iters", "2", "--min-seconds", "0", "--variants", "fp32"]
    done = runner.invoke(
        app, [*bench, *fast, "--data-dir", str(cifar_dir), "--out", str(tmp_path / "b"), "--json"]
    )
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["results"]
    assert {r["runtime"] for r in rows} == {"onnxruntime", "torch-cpu"}
    accuracy = {r["runtime"]: r["accuracy"] for r in rows}
    assert accuracy["onnxruntime"] == pytest.approx(accuracy["torch-cpu"], abs=1 / 40)

    report = runner.invoke(
        app, ["report", cifar_run, "--data-dir", str(cifar_dir), "--out", str(tmp_path / "r")]
    )
    assert report.exit_code == 0, report.output
    assert "cifar10" in (tmp_path / "r" / "report.html").read_text()

    # a test image as a PNG file: zoo predict's class is the one the trained model gives it
    from zoo.data import load_raw

    _, test, _ = load_raw("cifar10", cifar_dir)
    image = test.images[3].permute(1, 2, 0).numpy()
    Image.fromarray(image).save(tmp_path / "img.png")
    model, record = load_run(cifar_run)
    norm = Normalizer(record.normalization["mean"], record.normalization["std"])
    expected = record.class_names[int(predict_logits(model, test.images[3:4], norm).argmax())]
    predicted = runner.invoke(app, ["predict", str(out / "model.onnx"), str(tmp_path / "img.png"), "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)[0]["class_name"] == expected


def test_mlp_on_mnist_trains_exports_and_predicts(mnist_dir, tmp_path):
    run = train_run("mlp", {"epochs": 1, "subset": 100}, dataset="mnist", data_dir=str(mnist_dir))
    assert run.record.dataset == "mnist" and run.record.class_names == [str(d) for d in range(10)]
    assert run.run_dir.parent.name == "mlp"
    export_run(run.run_dir, ExportOptions(out=tmp_path / "e"), data_dir=str(mnist_dir))
    meta = read_metadata(tmp_path / "e" / "model.onnx")
    assert (meta["model"], meta["dataset"], meta["input_shape"]) == ("mlp", "mnist", [1, 28, 28])
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(tmp_path / "digit.png")
    predicted = runner.invoke(
        app, ["predict", str(tmp_path / "e" / "model.onnx"), str(tmp_path / "digit.png"), "--json"]
    )
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)[0]["class_name"] in meta["class_names"]


# ------------------------------------------------------------------------------------ the record drives


def test_a_run_is_rebuilt_from_its_record_even_without_its_dataset(tmp_path):
    """A folder dataset may be removed after training: the record's shape and classes rebuild the model."""
    from imagefolders import make_image_folder

    from zoo.data.folders import add_folder_dataset, remove_folder_dataset

    add_folder_dataset("pets", make_image_folder(tmp_path / "pets", {"cat": 8, "dog": 8, "owl": 8}), size=12)
    run = train_run("mlp", {"epochs": 1, "val_fraction": 0.2}, dataset="pets")
    remove_folder_dataset("pets")
    model, record = load_run(run.run_dir)
    assert record.dataset == "pets" and record.class_names == ["cat", "dog", "owl"]
    assert model.classifier.out_features == 3 and record.input_shape == [1, 12, 12]


def test_a_record_naming_another_dataset_for_a_preset_is_refused(fake_fashion):
    run = train_run("fashion-mlp", {"epochs": 1, "subset": 100}, data=fake_fashion[1])
    text = json.loads((run.run_dir / RECORD).read_text())
    (run.run_dir / RECORD).write_text(json.dumps({**text, "dataset": "mnist"}))
    with pytest.raises(CheckpointError, match="names dataset 'mnist'; fashion-mlp is bound to fashion-mnist"):
        load_run(run.run_dir)


def test_resume_continues_on_the_recorded_dataset(mnist_dir, monkeypatch):
    """An interrupted `zoo train mlp --dataset mnist` continues with `zoo train mlp --resume`: no
    --dataset needed (and none accepted), the request names it."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("ZOO_DATA_DIR", str(mnist_dir))

    def stop(stats):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        unfinished = paths.runs_dir() / ".unfinished" / "mlp" / "r1"
        train_run("mlp", {"epochs": 2, "subset": 100}, dataset="mnist", unfinished=unfinished, on_epoch=stop)
    (waiting,) = list_unfinished("mlp")
    assert waiting.dataset == "mnist" and waiting.to_dict()["dataset"] == "mnist" and waiting.epoch == 1
    refused = runner.invoke(app, ["train", "mlp", "--resume", "--dataset", "cifar10"])
    assert_clean_error(refused, 2, "--resume continues a run as it was started; drop the other options")
    result = runner.invoke(app, ["train", "mlp", "--resume", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (
        record["dataset"] == "mnist" and record["input_shape"] == [1, 28, 28] and len(record["history"]) == 2
    )
    assert not list_unfinished()


def test_an_old_resume_request_without_a_dataset_is_its_presets(fake_fashion, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(fake_fashion[0]))

    def stop(stats):
        raise KeyboardInterrupt

    unfinished = paths.runs_dir() / ".unfinished" / "fashion-mlp" / "old"
    with pytest.raises(KeyboardInterrupt):
        train_run("fashion-mlp", {"epochs": 2, "subset": 100}, unfinished=unfinished, on_epoch=stop)
    request = json.loads((unfinished / "request.json").read_text())
    del request["dataset"]  # as zoo wrote it before runs named their dataset
    (unfinished / "request.json").write_text(json.dumps(request))
    assert resume_run(unfinished).record.dataset == "fashion-mnist"


def test_a_request_naming_no_dataset_for_an_agnostic_variant_is_damaged(mnist_dir, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(mnist_dir))

    def stop(stats):
        raise KeyboardInterrupt

    unfinished = paths.runs_dir() / ".unfinished" / "mlp" / "bad"
    with pytest.raises(KeyboardInterrupt):
        train_run("mlp", {"epochs": 2, "subset": 100}, dataset="mnist", unfinished=unfinished, on_epoch=stop)
    request = json.loads((unfinished / "request.json").read_text())
    (unfinished / "request.json").write_text(json.dumps({**request, "dataset": None}))
    (listed,) = list_unfinished()
    assert "dataset: mlp needs --dataset NAME" in listed.damaged


# ------------------------------------------------------------------------------------ tune and ablate


def test_tune_records_the_dataset_and_refuses_another(cifar_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    cfg = TuneConfig(model="mlp", dataset="cifar10", trials=2, epochs=1, subset=100, retrain=False)
    cfg.data_dir = str(cifar_dir)
    result = tune(cfg)
    assert cfg.study_name == "mlp-cifar10" and result.study.study_name == "mlp-cifar10"
    study = load_study("mlp-cifar10", open_storage())
    assert (
        study.user_attrs["dataset"] == "cifar10" and study.user_attrs["tune_config"]["dataset"] == "cifar10"
    )
    runs = [t.user_attrs["run_dir"] for t in study.trials if "run_dir" in t.user_attrs]
    assert len(runs) == 2 and {read_record(r).dataset for r in runs} == {"cifar10"}
    assert read_record(result.final.run_dir).dataset == "cifar10"
    assert TuneConfig(model="mlp", dataset="mnist").study_name == "mlp-mnist"  # never the same study
    assert TuneConfig(model="fashion-mlp", dataset="fashion-mnist").study_name == "fashion-mlp"

    args = ["tune", "mlp", "--dataset", "mnist", "--study", "mlp-cifar10", "--trials", "1"]
    refused = runner.invoke(app, args)
    assert_clean_error(
        refused, 2, "study 'mlp-cifar10' tunes mlp on cifar10, not mnist; pick another --study"
    )
    assert len(load_study("mlp-cifar10", open_storage()).trials) == 2


def test_ablate_names_its_study_by_dataset_and_refuses_another(cifar_dir):
    cfg = AblateConfig(
        model="mlp", dataset="cifar10", factors={"dropout": "0.0"}, epochs=1, seeds=1, subset=100
    )
    cfg.data_dir = str(cifar_dir)
    table = ablate(cfg)
    assert table["study"] == "ablate-mlp-cifar10" and [r["seeds"] for r in table["rows"]] == [1, 1]
    study = load_study("ablate-mlp-cifar10", open_storage())
    assert study.user_attrs["dataset"] == "cifar10" and study.user_attrs["ablation"]["dataset"] == "cifar10"
    assert {read_record(t.user_attrs["run_dir"]).dataset for t in study.trials} == {"cifar10"}
    other = dataclasses.replace(cfg, dataset="mnist", study="ablate-mlp-cifar10")
    with pytest.raises(UsageError, match="ablates mlp on cifar10, not mlp on mnist; pick another --study"):
        ablate(other)


# ------------------------------------------------------------------------------------ the estimator


def test_zoo_classifier_takes_a_dataset_and_its_shape(cifar_dir):
    rng = np.random.default_rng(0)
    labels = fakedata.balanced_labels(200, rng)
    images = fakedata.learnable_images(labels, 3, 32, rng)
    clf = ZooClassifier("mlp", dataset="cifar10", epochs=3, lr=3e-3).fit(images, labels)
    assert clf.get_params()["dataset"] == "cifar10"
    assert clf.model_.features[1].in_features == 3 * 32 * 32
    assert clf.score(images, labels) > 0.8  # the bands are easy: far above the 10% of chance
    with pytest.raises(ValueError, match=r"mlp on cifar10 takes images of 3072 pixels \(3, 32, 32\)"):
        ZooClassifier("mlp", dataset="cifar10", epochs=1).fit(images[:, :1, :28, :28], labels)
    with pytest.raises(UsageError, match="mlp needs --dataset NAME"):
        ZooClassifier("mlp", epochs=1).fit(images, labels)
    with pytest.raises(UsageError, match="fashion-mlp is bound to fashion-mnist"):
        ZooClassifier("fashion-mlp", dataset="cifar10", epochs=1).fit(images, labels)


# ------------------------------------------------------------------------------------ listings


def test_zoo_models_lists_them_for_any_dataset(monkeypatch):
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["models", "--json"]).stdout)}
    for name in AGNOSTIC:
        assert rows[name]["dataset"] == "any" and rows[name]["num_params"] is None
        assert rows[name]["search_space"] == sorted(search_space_params(get_spec(PRESET_OF[name])))
    assert rows["fashion-cnn"]["dataset"] == "fashion-mnist" and rows["fashion-cnn"]["num_params"] > 0
    monkeypatch.setenv("COLUMNS", "250")
    wide = runner.invoke(app, ["models", "cnn*"])
    assert wide.exit_code == 0 and "any" in wide.stdout and "per dataset" in wide.stdout
    weights = json.loads(runner.invoke(app, ["weights", "list", "--json"]).stdout)
    cnn = next(w for w in weights if w["name"] == "cnn")
    assert cnn["dataset"] == "any" and "dataset-agnostic" in json.dumps(cnn)
