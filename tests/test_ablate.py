"""zoo ablate: one-factor variants, seeds, resumable study, the classic preset's 21 variants."""

import json
from pathlib import Path

import fakedata
import pytest
from cliutil import assert_clean_error
from optuna.trial import TrialState
from typer.testing import CliRunner

from cli.main import app
from zoo.core import paths
from zoo.core.errors import UsageError, ZooError
from zoo.tune.ablate import AblateConfig, ablate, variants
from zoo.tune.studies import load_study, open_storage

runner = CliRunner()


@pytest.fixture(autouse=True)
def _needs_data(fashion_small):
    """Trains on real Fashion-MNIST subsets."""


def test_classic_preset_has_the_21_variants_and_they_all_build():
    plan = variants(AblateConfig(model="fashion-cnn", factors={}, preset="classic"))
    assert plan[0] == ("base", {}) and len(plan) == 22
    assert ("block-2 pool average", {"pool_type": ("max", "avg")}) in plan


def test_one_factor_at_a_time_with_seeds_and_resume():
    cfg = AblateConfig(
        model="fashion-mlp",
        factors={"dropout": "0.0,0.4", "hidden": "32/64,32"},
        epochs=1,
        seeds=2,
        subset=600,
    )
    labels = [label for label, _ in variants(cfg)]
    assert labels == ["base", "dropout=0.0", "dropout=0.4", "hidden=32", "hidden=64,32"]
    result = ablate(cfg)
    rows = {r["variant"]: r for r in result["rows"]}
    saved = json.loads(Path(result["saved_to"]).read_text())  # the library saves what it returns
    assert (
        saved["rows"] == json.loads(json.dumps(result["rows"]))
        and Path(result["saved_to"]).parent.name == "ablations"
    )
    assert all(r["seeds"] == 2 for r in rows.values())
    mean, std = rows["dropout=0.4"]["test_acc"]
    assert 0.1 < mean <= 1 and std >= 0
    assert rows["hidden=32"]["num_params"] < rows["base"]["num_params"]
    assert rows["dropout=0.0"]["changed"] == {"dropout": 0.0}
    study = load_study("ablate-fashion-mlp", open_storage())
    assert len(study.trials) == 10 and all(t.state == TrialState.COMPLETE for t in study.trials)
    ablate(cfg)  # resuming a finished ablation trains nothing new
    assert len(load_study("ablate-fashion-mlp", open_storage()).trials) == 10


def test_two_workers_share_one_ablation_without_duplicates(tmp_path):
    """Two workers on one storage: every (variant, seed) runs exactly once. (SQLite cannot arbitrate
    concurrent workers, as Optuna documents; the journal file and PostgreSQL can.)"""
    import threading

    storage = f"journal:{tmp_path / 'ablation.log'}"
    cfg = AblateConfig(
        model="fashion-mlp", factors={"dropout": "0.0,0.4"}, epochs=1, seeds=2, subset=400, storage=storage
    )
    errors = []

    def worker():
        try:
            ablate(cfg)
        except Exception as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    study = load_study("ablate-fashion-mlp", open_storage(storage))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    pairs = sorted((t.user_attrs["variant"], t.user_attrs["seed"]) for t in complete)
    assert pairs == sorted((v, s) for v in ("base", "dropout=0.0", "dropout=0.4") for s in (0, 1))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)


def test_cli_ablate(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(
        app,
        [
            "ablate",
            "fashion-mlp",
            "--factor",
            "dropout=0.0",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--subset",
            "600",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "dropout=0.0" in result.stdout and "±" in result.stdout
    saved = json.loads((tmp_path / "artifacts" / "ablations" / "ablate-fashion-mlp.json").read_text())
    assert [r["variant"] for r in saved["rows"]] == ["base", "dropout=0.0"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["ablate", "fashion-mlp"], "nothing to ablate"),
        (["ablate", "fashion-mlp", "--preset", "classic"], "no preset"),
        (["ablate", "fashion-mlp", "--factor", "nope=1"], "not a hyperparameter"),
        (["ablate", "fashion-cnn", "--factor", "pool_size=30"], "shrinks"),
    ],
)
def test_bad_input(args, message, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert_clean_error(runner.invoke(app, args), 2, message)


def test_seeds_must_be_positive():
    with pytest.raises(UsageError, match="--seeds"):
        ablate(AblateConfig(model="fashion-mlp", factors={"dropout": "0"}, seeds=0))


def test_a_named_budget_reaches_every_run_and_gets_its_own_study(monkeypatch, tmp_path, fake_fashion_dir):
    """`--budget published` trains every variant with the study's own budget (early stopping on a
    validation split) and never mixes its runs with another budget's table. On the small official-format
    files (600 training images, as the subset was): each CNN run's test on 10,000 real images took seconds."""
    monkeypatch.setenv("COLUMNS", "200")
    args = ["ablate", "fashion-cnn", "--preset", "classic", "--only", "dropout 0.1", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--budget", "published", "--epochs", "2", "--subset", "600"])
    assert result.exit_code == 0, result.output
    assert (
        "budget: published: adam lr 0.001 (none schedule), at most 2 epochs, early stopping" in result.stdout
    )
    saved = json.loads(
        (tmp_path / "artifacts" / "ablations" / "ablate-fashion-cnn-classic-published.json").read_text()
    )
    assert [r["variant"] for r in saved["rows"]] == ["base", "dropout 0.1"]
    recipe = saved["budget"]["recipe"]
    assert (
        saved["budget"]["name"] == "published" and recipe["patience"] == 20 and recipe["schedule"] == "none"
    )
    study = load_study("ablate-fashion-cnn-classic-published", open_storage())
    run = json.loads((Path(study.trials[0].user_attrs["run_dir"]) / "run.json").read_text())
    assert run["train_config"]["patience"] == 20 and run["train_config"]["lr"] == 0.001
    assert study.trials[0].user_attrs["epochs_run"] <= 2
    short = AblateConfig(model="fashion-cnn", factors={}, preset="classic", budget="short")
    assert short.study_name == "ablate-fashion-cnn-classic-short"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--budget", "forever"],
            "fashion-cnn has no budget 'forever'; its budgets: default, published, short",
        ),
        (["--only", "dropout 0.3"], "--only names no variant of this ablation: dropout 0.3; variants:"),
    ],
)
def test_bad_budget_or_variant_names(args, message, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["ablate", "fashion-cnn", "--preset", "classic", *args])
    assert_clean_error(result, 2, message)


def test_more_seeds_and_a_new_variant_extend_a_finished_ablation(fake_fashion_dir):
    """`--seeds 2` after `--seeds 1`, then one more variant: only the new pairs train, none fails (Optuna
    refuses a categorical parameter whose choices change within a study, which is how the pair was kept).
    On the small official-format files (600 training images, as the subset was): which pairs train counts."""
    base = dict(model="fashion-mlp", epochs=1, subset=600)
    ablate(AblateConfig(factors={"dropout": "0.0"}, seeds=1, **base))
    ablate(AblateConfig(factors={"dropout": "0.0"}, seeds=2, **base))
    result = ablate(AblateConfig(factors={"dropout": "0.0,0.4"}, seeds=2, **base))
    rows = {r["variant"]: r for r in result["rows"]}
    assert {label: (r["seeds"], r["failed"]) for label, r in rows.items()} == {
        "base": (2, 0),
        "dropout=0.0": (2, 0),
        "dropout=0.4": (2, 0),
    }
    study = load_study("ablate-fashion-mlp", open_storage())
    assert len(study.trials) == 6 and all(t.state == TrialState.COMPLETE for t in study.trials)


# ------------------------------------------------------------ issue 24: factors that act, failures, best


def test_val_fraction_and_subset_factors_shape_their_own_split():
    result = ablate(
        AblateConfig(
            model="fashion-mlp",
            factors={"val_fraction": "0.3", "subset": "400"},
            epochs=1,
            seeds=1,
            subset=600,
        )
    )
    study = load_study("ablate-fashion-mlp", open_storage())
    runs = {
        t.user_attrs["variant"]: json.loads((Path(t.user_attrs["run_dir"]) / "run.json").read_text())
        for t in study.trials
    }
    sizes = {label: (r["data"]["n_train"], r["data"]["n_val"]) for label, r in runs.items()}
    assert sizes["base"] == (540, 60)  # --subset 600, the recipe's 10% held out
    assert sizes["val_fraction=0.3"] == (420, 180)  # the factor's own split, not the base's
    assert sizes["subset=400"] == (360, 40)  # the factor's subset, not --subset
    assert all(r["seeds"] == 1 for r in result["rows"])


def test_failed_runs_say_why_and_the_command_exits_non_zero(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    # lr 1e30 overflows the weights in the first steps: that variant's run diverges, the base completes
    args = [
        "ablate",
        "fashion-mlp",
        "--factor",
        "lr=1e30",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--subset",
        "300",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "1 run(s) failed (lr=1e30: training diverged" in result.stderr
    assert "Traceback" not in result.output
    assert "lr=1e30" in result.stdout and "(1 failed)" in result.stdout  # the table first, with its hole


def test_an_ablation_whose_runs_all_fail_raises(tmp_path):
    # a data folder whose files are damaged: every run fails to read them, and the error says why
    broken = tmp_path / "no-data"
    fakedata.make_idx_dataset(broken, n_train=100, n_test=20)
    for path in broken.iterdir():
        path.write_bytes(path.read_bytes()[:100])  # truncated, as an interrupted copy leaves them
    cfg = AblateConfig(
        model="fashion-mlp", factors={"dropout": "0.0"}, epochs=1, seeds=1, data_dir=str(broken)
    )
    with pytest.raises(ZooError, match=r"every run of ablation ablate-fashion-mlp failed \(first: .*no-data"):
        ablate(cfg)


def test_a_subset_too_small_is_refused_before_any_run():
    with pytest.raises(UsageError, match="subset"):
        ablate(AblateConfig(model="fashion-mlp", factors={"dropout": "0.0"}, epochs=1, seeds=1, subset=12))
    assert not (paths.artifacts_dir() / "ablations").exists()


def test_export_and_report_best_never_pick_an_ablation(monkeypatch):
    """An ablation's trials carry test accuracy: picking its best would select on the test set."""
    from zoo.export.targets import resolve_targets
    from zoo.tune.tuning import TuneConfig, tune

    ablate(AblateConfig(model="fashion-mlp", factors={"dropout": "0.0"}, epochs=1, seeds=1, subset=300))
    with pytest.raises(Exception, match="no completed trial"):  # only an ablation so far: nothing to pick
        resolve_targets("best")
    tune(TuneConfig(model="fashion-mlp", trials=1, epochs=1, subset=300, retrain=False, study="tuned"))
    assert [t.study for t in resolve_targets("best")] == ["tuned"]
    assert [t.study for t in resolve_targets("fashion-mlp")] == ["tuned"]
    for call in (
        lambda: resolve_targets("ablate-fashion-mlp"),
        lambda: resolve_targets("best", study="ablate-fashion-mlp"),
    ):
        with pytest.raises(UsageError, match="is an ablation study"):
            call()
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["export", "best", "--study", "ablate-fashion-mlp"])
    assert_clean_error(result, 2, "ablate-fashion-mlp is an ablation study")
