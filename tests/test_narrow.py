"""Every table in an 80-column log (a pipe, CI, `make demo`) shows its figures in full, never cut to `…`,
and `--json` keeps stdout pure JSON while progress goes to stderr."""

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from zoo.core import paths
from zoo.train.runs import train_run

runner = CliRunner()
# the layout of tables is checked here, not accuracy: the small official-format files keep each command fast
pytestmark = pytest.mark.usefixtures("fake_fashion_dir")


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def _readable(text: str) -> None:
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= 80, text


def test_export_parity_report(artifacts, tmp_path):
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(artifacts / "runs" / "r"), "--int8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    _readable(result.stdout)
    parity = json.loads((out / "parity.json").read_text())["fp32"]
    assert f"{parity['argmax_agreement']:.4%}" in result.stdout
    assert f"{parity['max_abs_logit_diff']:.2e}" in result.stdout


def test_compare_with_long_run_names(fake_fashion):
    root = paths.runs_dir() / "fashion-mlp"
    names = ["a-rather-long-run-folder-name-0001", "a-rather-long-run-folder-name-0002"]
    for name in names:
        train_run("fashion-mlp", {"epochs": 1}, data=fake_fashion[1], run_dir=root / name)
    result = runner.invoke(app, ["compare", *(str(root / n) for n in names), "--no-latency"])
    assert result.exit_code == 0, result.output
    _readable(result.stdout)
    assert f"A: fashion-mlp:{names[0]}" in result.stdout and f"B: fashion-mlp:{names[1]}" in result.stdout


def test_train_classification_and_confusion_tables():
    result = runner.invoke(app, ["train", "fashion-mlp", "--epochs", "1", "--subset", "500"])
    assert result.exit_code == 0, result.output
    _readable(result.stdout)
    assert "0 T-shirt/top" in result.stdout and "9 Ankle boot" in result.stdout  # numbered rows and columns


def test_tune_logs_one_line_per_trial_and_json_stays_pure():
    args = [
        "tune",
        "fashion-mlp",
        "--trials",
        "2",
        "--epochs",
        "1",
        "--subset",
        "500",
        "--retrain-epochs",
        "1",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert payload["best"]["number"] in (0, 1)
    assert "trial 0 complete [1/2]: val acc" in result.stderr and "trial 1 " in result.stderr
    assert "retraining trial" in result.stderr
    plain = runner.invoke(app, [*args, "--study", "plain"])
    assert plain.exit_code == 0, plain.output
    _readable(plain.stdout)
    assert "trial 0 complete [1/2]" in plain.stdout and "test accuracy" in plain.stdout


def test_models_show_every_field_in_full():
    """`zoo models` in 80 columns: one block per model instead of a table of seven columns cut to `…`."""
    from zoo.models.registry import get_spec, list_models

    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    _readable(result.stdout)
    # wrapped lines joined back: every provenance and recorded figure is there word for word
    words = " ".join(cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")[2:3])
    words = " ".join(words.split())
    for name in list_models():
        spec = get_spec(name)
        assert name in result.stdout
        assert " ".join(spec.provenance.split()) in words, name
        if spec.recorded:
            assert spec.recorded.summary() in words, name


def test_ablation_tables_and_its_study_listing():
    """The ablation table (nine figure columns) splits into accuracy and cost tables; `zoo studies` lists
    the ablation as one wrapped line and never calls its test accuracy a validation score."""
    args = ["ablate", "fashion-cnn", "--preset", "classic", "--budget", "short", "--only", "dropout 0.0"]
    result = runner.invoke(app, [*args, "--subset", "500", "--epochs", "1", "--seeds", "1"])
    assert result.exit_code == 0, result.output
    _readable(result.stdout)
    saved = json.loads(next((paths.artifacts_dir() / "ablations").glob("*.json")).read_text())
    base, dropout = saved["rows"]
    for row in saved["rows"]:
        assert f"{row['test_acc'][0] * 100:.2f} ± 0.00" in result.stdout
        assert f"{row['num_params']:,}" in result.stdout
    assert f"{(dropout['test_acc'][0] - base['test_acc'][0]) * 100:+.2f}" in result.stdout
    listing = runner.invoke(app, ["studies"])
    _readable(listing.stdout)
    assert "(fashion-cnn ablation): 2 complete" in listing.stdout and "best val acc -" in listing.stdout
    shown = runner.invoke(app, ["studies", "show", saved["study"]])
    _readable(shown.stdout)
    assert "test acc" in shown.stdout and "dropout 0.0, seed 0" in shown.stdout


def test_data_list_shows_folders_and_file_names_in_full():
    from zoo.data import dataset_status

    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    _readable(result.stdout)
    status = dataset_status("fashion-mnist", None)
    assert f"fashion-mnist: {status.folder}" in result.stdout
    assert all(f.name in result.stdout for f in status.files)
