"""zoo compare: runs, variants and exports side by side."""

import json
import shutil

import pytest
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app
from zoo.core import paths
from zoo.export.exporter import ExportOptions, export_run
from zoo.inference.compare import compare
from zoo.train.runs import train_run

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_runs(fashion_small, tmp_path_factory):
    """Two fashion-mlp runs, trained once for the module: the tests only read them."""
    root = tmp_path_factory.mktemp("compare")
    a = train_run("fashion-mlp", {"epochs": 1, "hidden": (32,)}, data=fashion_small, run_dir=root / "a")
    b = train_run("fashion-mlp", {"epochs": 2, "hidden": (128,)}, data=fashion_small, run_dir=root / "b")
    return a.run_dir, b.run_dir


@pytest.fixture
def two_runs(trained_runs):
    """The two runs, copied under this test's artifacts folder (where `fashion-mlp` finds its latest)."""
    root = paths.runs_dir() / "fashion-mlp"
    for run in trained_runs:
        shutil.copytree(run, root / run.name)
    return root / "a", root / "b"


def test_compare_runs_and_an_export(two_runs):
    a, b = two_runs
    export_run(b, ExportOptions(out=paths.artifacts_dir() / "models" / "fashion-mlp" / "b"))
    result = compare([str(a), "fashion-mlp", str(paths.artifacts_dir() / "models" / "fashion-mlp" / "b")])
    labels = [e["label"] for e in result["entries"]]
    assert labels[0].endswith(":a") and labels[1].endswith(":b")  # the variant resolves to its latest run
    assert [e["kind"] for e in result["entries"]] == ["run", "run", "onnx"]
    assert result["entries"][1]["accuracy"] == pytest.approx(result["entries"][2]["accuracy"], abs=1e-3)
    assert all(e["latency_ms"] > 0 for e in result["entries"])
    assert (
        set(result["f1_difference"]) == set(result["entries"][0]["f1"]) and len(result["most_different"]) == 3
    )
    spread = result["f1_difference"][result["most_different"][0]]
    assert spread == max(result["f1_difference"].values())


def test_cli_compare(two_runs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    a, b = two_runs
    result = runner.invoke(app, ["compare", str(a), str(b), "--no-latency"])
    assert result.exit_code == 0, result.output
    assert "Ankle boot" in result.stdout and "differ most on" in result.stdout
    as_json = json.loads(runner.invoke(app, ["compare", str(a), str(b), "--no-latency", "--json"]).stdout)
    assert as_json["entries"][0]["latency_ms"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "fashion-mlp"], "at least two"),
        (["compare", "nothing", "else"], "is not a run directory"),
        (["compare", "fashion-cnn", "fashion-mlp"], "no trained run of fashion-cnn"),
    ],
)
def test_cli_compare_bad_input(args, message, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert_clean_error(runner.invoke(app, args), 2, message)
