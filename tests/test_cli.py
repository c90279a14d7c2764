import json

import pytest
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("zoo ")


def test_models_table_and_json():
    result = runner.invoke(app, ["models", "fashion-*"])
    assert result.exit_code == 0, result.output
    assert (
        "fashion-cnn" in result.stdout and "fashion-mlp" in result.stdout and "mnist-cnn" not in result.stdout
    )
    rows = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    names = {r["name"] for r in rows}
    assert {"fashion-cnn", "mnist-cnn", "cifar10-cnn", "fashion-mlp"} <= names
    assert all(r["search_space"] for r in rows)
    # a dataset-agnostic variant's parameters depend on the dataset: listed as "any", counted as null
    assert all((r["num_params"] is None) == (r["dataset"] == "any") for r in rows)
    assert all(r["num_params"] > 0 for r in rows if r["num_params"] is not None)


def test_train_prints_report_and_saves_a_run(fashion_small, tmp_path):
    result = runner.invoke(
        app,
        [
            "--artifacts",
            str(tmp_path),
            "train",
            "fashion-mlp",
            "--subset",
            "1500",
            "--epochs",
            "1",
            "--set",
            "hidden=64,32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Ankle boot" in result.stdout and "T-shirt/top" in result.stdout
    assert "confusion matrix" in result.stdout
    runs = list((tmp_path / "runs" / "fashion-mlp").iterdir())
    assert len(runs) == 1 and (runs[0] / "weights.safetensors").is_file()


def test_train_json(fashion_small, tmp_path):
    result = runner.invoke(
        app,
        [
            "--artifacts",
            str(tmp_path),
            "train",
            "fashion-mlp",
            "--subset",
            "1000",
            "--epochs",
            "1",
            "--json",
            "--seed",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["train_config"]["seed"] == 4 and 0 < record["metrics"]["test"]["accuracy"] <= 1


def test_train_budget_picks_a_named_recipe_and_options_still_win(fake_fashion_dir, tmp_path):
    """fashion-cnn3 trains at its study's budget by default (20% validation, patience 10); `--budget short`
    is the shortened recipe (10% validation, no early stopping), and an explicit option overrides either.
    On the small official-format files: each run's fashion-cnn3 took seconds on the 10,000 test images."""
    args = ["--artifacts", str(tmp_path), "train", "fashion-cnn3", "--subset", "600", "--json"]
    short = runner.invoke(app, [*args, "--budget", "short", "--epochs", "1"])
    assert short.exit_code == 0, short.output
    config = json.loads(short.stdout)["train_config"]
    assert (config["val_fraction"], config["patience"], config["epochs"]) == (0.1, 0, 1)
    published = runner.invoke(app, [*args, "--epochs", "1", "--batch-size", "128"])
    assert published.exit_code == 0, published.output
    config = json.loads(published.stdout)["train_config"]
    assert (config["val_fraction"], config["patience"], config["batch_size"]) == (0.2, 10, 128)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["train", "fashion-cnnn"], 2, "did you mean fashion-cnn"),
        (["train", "fashion-cnn", "--set", "nope=1"], 2, "not a hyperparameter"),
        (["train", "fashion-cnn", "--set", "lr"], 2, "key=value"),
        (["train", "fashion-cnn", "--epochs", "0"], 2, "epochs=0 is not allowed: epochs takes an integer"),
        (["train", "fashion-cnn", "--device", "cuda:7"], 2, "CUDA"),
        (
            ["train", "fashion-cnn3", "--budget", "forever"],
            2,
            "fashion-cnn3 has no budget 'forever'; its budgets",
        ),
        (["data", "fetch", "imagenet"], 2, "unknown dataset"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args, code, message, tmp_path):
    result = runner.invoke(app, ["--artifacts", str(tmp_path), *args])
    assert_clean_error(result, code, message)
    assert not (tmp_path / "runs").exists()


def test_missing_dataset_says_where_it_looked(tmp_path):
    result = runner.invoke(app, ["--artifacts", str(tmp_path), "train", "mnist-cnn", "--epochs", "1"])
    assert result.exit_code == 1
    assert "mnist not found" in result.stderr and "zoo data fetch mnist" in result.stderr
    assert "Traceback" not in result.output


def test_data_list(tmp_path):
    result = runner.invoke(app, ["--artifacts", str(tmp_path), "data", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["dataset"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"fashion-mnist", "mnist", "cifar10"}
    assert rows["mnist"]["folder"] is None


def test_a_flip_averaged_test_figure_says_so():
    """A recipe with test-time flips printed its flip-averaged figure bare, and the default export of the
    run then scored another one (fashion-cnn's tune: 0.9260, its export 0.9245)."""
    args = ["train", "fashion-mlp", "--epochs", "1", "--subset", "500"]
    flipped = runner.invoke(app, [*args, "--set", "test_time_flip=true"], env={"COLUMNS": "200"})
    assert flipped.exit_code == 0, flipped.output
    assert "(with test-time flips; `zoo export --tta` keeps them" in flipped.stdout
    plain = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert plain.exit_code == 0 and "test-time flips" not in plain.stdout
