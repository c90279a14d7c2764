"""Shipped weights: the registry's digests decide what is used; cache, package, then a real download
from 127.0.0.1 (good file, wrong hash, truncated, 404); and every shipped model re-measures its figure."""

import shutil

import pytest
import torch
from httpserve import ShortHandler, serve
from typer.testing import CliRunner

import zoo
from cli.main import app
from zoo import pretrained
from zoo.checkpoint import RECORD, WEIGHTS, load_run, read_record
from zoo.errors import UsageError
from zoo.fileio import sha256_file
from zoo.pretrained import WeightsError
from zoo.registry import Weights
from zoo.runs import evaluate_run, train_run
from zoo.shipped import SHIPPED

pytestmark = pytest.mark.usefixtures("fake_fashion_dir")


@pytest.fixture(scope="module")
def shipped_run(fake_fashion, tmp_path_factory):
    """A fashion-mlp run on the small files and the Weights entry the shipping script would write."""
    folder = tmp_path_factory.mktemp("pkg") / "fashion-mlp"
    run = train_run("fashion-mlp", {"epochs": 1}, data=fake_fashion[1], run_dir=folder)
    model, record = load_run(folder)
    result = evaluate_run(model, record, test=fake_fashion[1].test)
    weights = Weights(
        sha256=sha256_file(folder / WEIGHTS),
        record_sha256=sha256_file(folder / RECORD),
        size=(folder / WEIGHTS).stat().st_size,
        correct=int((result.predictions == result.labels).sum()),
        n=len(result.labels),
    )
    return run.run_dir, weights


@pytest.fixture
def ship(shipped_run, tmp_path, monkeypatch):
    """fashion-mlp as a shipped model: in the package folder, nothing in the cache ($ZOO_HOME)."""
    folder, weights = shipped_run
    package = tmp_path / "package"
    shutil.copytree(folder, package / "fashion-mlp")
    monkeypatch.setattr(pretrained, "PACKAGE_DIR", package)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_WEIGHTS_URL", raising=False)
    monkeypatch.setitem(SHIPPED, "fashion-mlp", weights)
    return package / "fashion-mlp", weights


def test_the_package_copy_is_found_offline_and_loads_as_its_run(ship):
    folder, _weights = ship
    located = pretrained.locate("fashion-mlp", fetch=False)
    assert located.source == "package" and located.folder == folder
    model = zoo.create_model("fashion-mlp", pretrained=True)
    reference, _ = load_run(folder)
    for (k, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert not model.training
    untrained = zoo.create_model("fashion-mlp")
    assert not torch.equal(next(untrained.parameters()), next(model.parameters()))


def test_pretrained_refuses_architecture_overrides(ship):
    with pytest.raises(UsageError, match="drop dense_units"):
        zoo.create_model("fashion-mlp", pretrained=True, dense_units=[8])


def test_the_cache_comes_first_and_a_damaged_copy_is_never_used(ship, tmp_path):
    folder, weights = ship
    cached = pretrained.cache_dir("fashion-mlp", weights)
    shutil.copytree(folder, cached)
    assert pretrained.locate("fashion-mlp").source == "cache"
    (cached / WEIGHTS).write_bytes(b"\0" * weights.size)  # same size, other bytes
    assert pretrained.locate("fashion-mlp").source == "package"
    shutil.rmtree(folder)
    with pytest.raises(WeightsError) as caught:
        pretrained.locate("fashion-mlp")
    message = str(caught.value)
    assert "\n" not in message and weights.sha256 in message and "ZOO_WEIGHTS_URL" in message


def test_a_damaged_package_copy_is_refused_with_both_digests(ship):
    folder, weights = ship
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(
        WeightsError, match=rf"sha256 {sha256_file(folder / WEIGHTS)}, expected {weights.sha256}"
    ):
        pretrained.locate("fashion-mlp", fetch=False)


@pytest.fixture
def mirror(ship, tmp_path, monkeypatch):
    """The package copy moved to a mirror served on 127.0.0.1 (as `<name>-<sha8>/<file>`)."""
    folder, weights = ship
    root = tmp_path / "www"
    served = root / "files" / f"fashion-mlp-{weights.tag}"
    served.parent.mkdir(parents=True)
    shutil.move(folder, served)
    return root, served, weights


def _serve(monkeypatch, root, handler=None):
    server, url = serve(root, handler) if handler else serve(root)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", url)
    return server


def test_a_download_is_checked_written_whole_and_then_offline(mirror, monkeypatch):
    root, _served, weights = mirror
    server = _serve(monkeypatch, root)
    seen = []
    try:
        located = pretrained.pull(
            "fashion-mlp", on_progress=lambda f, done, total: seen.append((f, done, total))
        )
    finally:
        server.shutdown()
        server.server_close()
    assert located.source == "download" and located.folder == pretrained.cache_dir("fashion-mlp", weights)
    assert sha256_file(located.folder / WEIGHTS) == weights.sha256
    assert (WEIGHTS, weights.size, weights.size) in seen
    assert [p.name for p in located.folder.parent.iterdir()] == [located.folder.name]  # nothing temporary
    assert pretrained.locate("fashion-mlp", fetch=False).source == "cache"  # the server is gone
    assert read_record(located.folder).model == "fashion-mlp"


def test_a_mirror_with_other_bytes_is_refused_naming_file_and_digests(mirror, monkeypatch):
    root, served, weights = mirror
    (served / WEIGHTS).write_bytes((served / WEIGHTS).read_bytes()[:-1] + b"!")
    actual = sha256_file(served / WEIGHTS)
    server = _serve(monkeypatch, root)
    try:
        with pytest.raises(WeightsError) as caught:
            pretrained.pull("fashion-mlp")
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert f"{served.name}/{WEIGHTS}" in message and f"sha256 {actual}, expected {weights.sha256}" in message
    assert not (pretrained.home() / "weights").exists() or not any((pretrained.home() / "weights").iterdir())


def test_a_truncated_transfer_and_a_404_are_one_line_each(mirror, monkeypatch):
    root, served, _weights = mirror
    server = _serve(monkeypatch, root, ShortHandler)
    try:
        with pytest.raises(WeightsError, match=r"connection closed after \d+ of 100000 bytes"):
            pretrained.pull("fashion-mlp")
    finally:
        server.shutdown()
        server.server_close()
    shutil.rmtree(served)
    server = _serve(monkeypatch, root)
    try:
        with pytest.raises(WeightsError, match=rf"{served.name}/{WEIGHTS}: HTTP 404"):
            pretrained.pull("fashion-mlp")
    finally:
        server.shutdown()
        server.server_close()
    assert not (pretrained.home() / "weights").exists() or not any((pretrained.home() / "weights").iterdir())


def test_verify_counts_the_correct_predictions_and_catches_a_wrong_figure(ship, monkeypatch):
    _folder, weights = ship
    result = pretrained.verify("fashion-mlp")
    assert result.exact and result.correct == weights.correct and result.n == 500
    monkeypatch.setitem(
        SHIPPED, "fashion-mlp", Weights(**{**weights.__dict__, "correct": weights.correct + 1})
    )
    wrong_by_one = pretrained.verify("fashion-mlp")
    assert not wrong_by_one.exact and wrong_by_one.ok == (wrong_by_one.near_ties >= 1)


@pytest.mark.parametrize("name", ["mnist-cnn", "cifar10-cnn", "fashion-resnet-wide"])
def test_variants_without_weights_say_why_in_one_line(name):
    with pytest.raises(WeightsError) as caught:
        zoo.create_model(name, pretrained=True)
    message = str(caught.value)
    assert "\n" not in message and name in message and "zoo train" in message


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_model_re_measures_its_figure_exactly(name, monkeypatch):
    """The official test split, CPU fp32: the registry's count of correct predictions, exactly on the CPU
    that made it; elsewhere only images whose two best logits are within 1e-3 may be decided otherwise."""
    monkeypatch.delenv("ZOO_DATA_DIR")
    result = pretrained.verify(name)
    assert result.n == 10_000 and result.ok, (result.correct, result.expected, result.near_ties)


def test_cli_lists_pulls_and_verifies(ship, tmp_path, monkeypatch):
    import json

    folder, weights = ship
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["weights", "list", "fashion-*", "--json"]).stdout)
    mlp = next(r for r in listed if r["name"] == "fashion-mlp")
    assert mlp["weights"]["sha256"] == weights.sha256 and mlp["where"] == "package"
    wide = next(r for r in listed if r["name"] == "fashion-resnet-wide")
    assert wide["weights"] is None and "GPU" in wide["reason"]
    table = runner.invoke(app, ["weights", "list", "fashion-mlp"])
    assert f"{weights.test_accuracy:.2%}" in table.stdout and weights.tag in table.stdout
    verified = runner.invoke(app, ["weights", "verify", "fashion-mlp"])
    assert verified.exit_code == 0 and f"{weights.correct:,}/500 correct" in verified.stdout
    monkeypatch.setitem(SHIPPED, "fashion-mlp", Weights(**{**weights.__dict__, "correct": 1}))
    (folder / RECORD).write_bytes((folder / RECORD).read_bytes())  # same bytes: the record still matches
    assert runner.invoke(app, ["weights", "verify", "fashion-mlp"]).exit_code == 1
    refused = runner.invoke(app, ["weights", "pull", "mnist-cnn"])
    assert (
        refused.exit_code == 1 and refused.stderr.count("\n") == 1 and "zoo train mnist-cnn" in refused.stderr
    )


def test_predict_takes_a_variant_name_for_its_shipped_model(ship, tmp_path, monkeypatch):
    """An empty artifacts folder, no network: the shipped run is exported into the cache once."""
    import json

    import numpy as np
    from PIL import Image

    image = tmp_path / "shoe.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30), dtype=np.uint8)).save(image)
    runner = CliRunner()
    args = ["--artifacts", str(tmp_path / "empty"), "predict", "fashion-mlp", str(image), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)[0]["class_name"]
    onnx_file = pretrained.export_folder("fashion-mlp") / "model.onnx"
    stamp = onnx_file.stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.stdout == first.stdout and onnx_file.stat().st_mtime_ns == stamp  # up to date: not rebuilt
    assert not (tmp_path / "empty").exists()


def test_the_results_table_and_readme_say_what_the_registry_ships():
    """benchmarks/results-fashion-mnist.csv (timm's results table) and README's copy of it."""
    import csv
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("results_table", root / "benchmarks" / "results_table.py")
    results_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results_table)
    text = (root / "benchmarks" / "results-fashion-mnist.csv").read_text()
    rows = {r["model"]: r for r in csv.DictReader(text.splitlines())}
    assert set(rows) == set(SHIPPED)
    for name, weights in SHIPPED.items():
        row = rows[name]
        assert row["sha256"] == weights.sha256 and row["top1"] == f"{100 * weights.test_accuracy:.2f}"
        assert float(row["top1"]) + float(row["top1_err"]) == pytest.approx(100.0)
        assert int(row["param_count"]) == read_record(pretrained.package_dir(name)).num_params
        assert float(row["mflops"]) > 0 and row["machine"] and name in row["command"]
    readme = (root / "README.md").read_text()
    assert results_table.readme_with(text, readme) == readme, "run benchmarks/results_table.py"


def test_export_report_and_compare_take_the_shipped_run_by_name(ship, shipped_run, tmp_path, monkeypatch):
    import json

    from zoo.exported import read_metadata

    folder, weights = ship
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    art = tmp_path / "art"
    exported = runner.invoke(app, ["--artifacts", str(art), "export", "fashion-mlp", "--pretrained"])
    assert exported.exit_code == 0, exported.output
    onnx_file = art / "models" / "fashion-mlp" / "fashion-mlp-pretrained" / "model.onnx"
    assert read_metadata(onnx_file)["weights_sha256"] == weights.sha256
    compared = runner.invoke(
        app,
        ["--artifacts", str(art), "compare", str(shipped_run[0]), "fashion-mlp", "--pretrained", "--json"],
    )
    assert compared.exit_code == 0, compared.output
    accuracies = {e["accuracy"] for e in json.loads(compared.stdout)["entries"]}
    assert accuracies == {weights.test_accuracy}  # the same weights twice
    reported = runner.invoke(app, ["--artifacts", str(art), "report", "fashion-mlp", "--pretrained"])
    assert reported.exit_code == 0, reported.output
    assert (art / "reports" / "fashion-mlp-pretrained" / "report.html").is_file()
    assert (
        list(folder.iterdir()) == list(folder.iterdir())
        and sha256_file(folder / RECORD) == weights.record_sha256
    )


def test_every_fashion_variant_ships_weights_or_says_why():
    from zoo.registry import get_spec, list_models
    from zoo.shipped import NO_WEIGHTS

    for name in list_models("fashion-*"):
        assert (get_spec(name).weights is not None) != (name in NO_WEIGHTS), name
