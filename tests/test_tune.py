"""zoo tune on tiny budgets: fashion-mlp, 1,000 images, 1 epoch, a few trials."""

import contextlib
import json
import math
from pathlib import Path

import optuna
import pytest
from cliutil import assert_clean_error
from optuna.trial import TrialState
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import TrainingDiverged, UsageError
from zoo.train.checkpoint import WEIGHTS
from zoo.tune import tuning as tune_module
from zoo.tune.studies import load_study, open_storage
from zoo.tune.tuning import TuneConfig, tune

runner = CliRunner()
TINY = dict(model="fashion-mlp", epochs=1, subset=1000, retrain=False)


@pytest.fixture(autouse=True)
def _needs_data(fashion_small):
    """These tests train on real Fashion-MNIST subsets (skipped when it is not installed)."""


def _study(name="fashion-mlp"):
    return load_study(name, open_storage())


def test_study_is_created_in_sqlite_and_resumes(tmp_path):
    first = tune(TuneConfig(**TINY, trials=2))
    assert first.new_trials == 2
    assert (tmp_path / "artifacts" / "zoo.db").is_file()
    second = tune(TuneConfig(**TINY, trials=2))
    numbers = [t.number for t in _study().trials]
    assert numbers == [0, 1, 2, 3] and second.new_trials == 2
    assert _study().user_attrs["model"] == "fashion-mlp"


def test_completed_trials_keep_a_run_and_the_test_metrics_land_on_the_study():
    result = tune(TuneConfig(**TINY, trials=2))
    best = result.best
    assert best.state == TrialState.COMPLETE and 0.2 < best.value <= 1
    other = next(t for t in _study().trials if t.number != best.number)
    record = json.loads((Path(other.user_attrs["run_dir"]) / "run.json").read_text())
    assert record["study"] == "fashion-mlp" and "test" not in record["metrics"]  # test untouched while tuning
    best_record = json.loads((Path(best.user_attrs["run_dir"]) / "run.json").read_text())
    assert best_record["metrics"]["test"]["n"] == 10_000  # evaluated once, at the end
    final = _study().user_attrs["final"]
    assert final["trial"] == best.number and 0 < final["test_accuracy"] <= 1


def test_retrain_uses_the_full_training_split(fake_fashion_dir):
    """On the small official-format files (600 training images): an epoch of all 54,000 real ones is what
    made this test slow, and the split is what is tested."""
    result = tune(TuneConfig(**{**TINY, "subset": 300, "retrain": True}, trials=1, retrain_epochs=1))
    assert result.best.user_attrs["config"]["subset"] == 300
    assert result.final.record.data["n_train"] == 540  # 90% of all 600, not of the trials' 300
    assert result.final.record.retrained is True


def test_set_pins_a_search_parameter_and_overrides_config():
    tune(TuneConfig(**TINY, trials=3, fixed={"lr": "0.0001", "batch_size": "64"}))
    trials = _study().trials
    assert {t.params["lr"] for t in trials} == {0.0001}
    assert {t.user_attrs["config"]["batch_size"] for t in trials} == {64}


def test_grid_sampler_runs_exactly_the_grid():
    cfg = TuneConfig(**TINY, trials=10, sampler="grid", grid={"lr": [0.001, 0.0001], "dropout": [0.0, 0.2]})
    result = tune(cfg)
    combos = {(t.params["lr"], t.params["dropout"]) for t in _study().trials}
    assert result.new_trials == 4
    assert combos == {(0.001, 0.0), (0.001, 0.2), (0.0001, 0.0), (0.0001, 0.2)}


def test_a_trial_that_raises_or_diverges_does_not_kill_the_study(monkeypatch):
    real = tune_module.train_run
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker lost its GPU")
        if calls["n"] == 2:
            raise TrainingDiverged("training diverged at epoch 1 (loss is nan); lower lr")
        if calls["n"] == 3:
            result = real(*args, **kwargs)
            result.record.metrics["val"]["accuracy"] = math.nan
            return result
        return real(*args, **kwargs)

    monkeypatch.setattr(tune_module, "train_run", flaky)
    tune(TuneConfig(**TINY, trials=4))
    trials = _study().trials
    assert [t.state for t in trials] == [
        TrialState.FAIL,
        TrialState.PRUNED,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert "worker lost its GPU" in trials[0].user_attrs["fail_reason"]
    assert "diverged" in trials[1].user_attrs["fail_reason"]
    assert "nan" in trials[2].user_attrs["fail_reason"]


def test_a_pruner_that_must_prune_does(monkeypatch):
    monkeypatch.setattr(
        tune_module, "make_pruner", lambda name, epochs: optuna.pruners.ThresholdPruner(lower=1.01)
    )
    result = tune(TuneConfig(**{**TINY, "epochs": 3}, trials=2))
    trials = _study().trials
    assert all(t.state == TrialState.PRUNED for t in trials)
    assert all(t.user_attrs["pruned_at_epoch"] == 1 for t in trials)
    assert all(not Path(t.user_attrs.get("run_dir", "/nonexistent")).exists() for t in trials)
    assert result.best is None


def test_only_the_best_k_checkpoints_keep_weights():
    tune(TuneConfig(**TINY, trials=4, keep=2))
    complete = sorted((t for t in _study().trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)
    assert len(complete) == 4
    have = [(Path(t.user_attrs["run_dir"]) / WEIGHTS).exists() for t in complete]
    assert have == [True, True, False, False]


def test_a_study_of_another_model_is_refused():
    tune(TuneConfig(**TINY, trials=1, study="shared"))
    with pytest.raises(UsageError, match="tunes fashion-mlp, not fashion-cnn"):
        tune(TuneConfig(model="fashion-cnn", epochs=1, subset=1000, retrain=False, trials=1, study="shared"))


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["tune", "fashion-mpl"], 2, "did you mean fashion-mlp"),
        (["tune", "fashion-mlp", "--sampler", "bayes"], 2, "unknown sampler"),
        (["tune", "fashion-mlp", "--pruner", "asha"], 2, "unknown pruner"),
        (["tune", "fashion-mlp", "--storage", "mysql+nothing://x/y"], 2, "unsupported storage URL"),
        (["tune", "fashion-mlp", "--storage", "sqlite:///"], 2, "names no file"),
        (["tune", "fashion-mlp", "--storage", "postgresql://zoo@127.0.0.1:9/zoo"], 1, "cannot reach"),
        (["tune", "fashion-mlp", "--set", "nope=1"], 2, "not a hyperparameter"),
        (["tune", "fashion-mlp", "--set", "lr=0.5"], 2, "not one of the search space's choices"),
        (["tune", "fashion-mlp", "--grid", "hidden=1,2"], 2, "tuple-valued"),
        (["tune", "fashion-mlp", "--sampler", "grid"], 2, "no grid of its own"),
        (["tune", "fashion-mlp", "--trials", "0"], 2, "--trials must be"),
        (["tune", "fashion-mlp", "--set", "val_fraction=0"], 2, "leaves none"),
        (["tune", "fashion-mlp", "--time-budget", "10x"], 2, "--time-budget: '10x' is not a duration"),
        (["tune", "fashion-mlp", "--time-budget", "0"], 2, "--time-budget: a time budget must be more"),
        (["tune", "fashion-mlp", "--time-budget", "nan"], 2, "--time-budget: a time budget must be more"),
        (["studies", "show", "nothing"], 2, "no study named"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(args, code, message, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), *args])
    assert_clean_error(result, code, message)
    assert not (tmp_path / "a" / "runs").exists()
    if args[0] == "tune":
        assert not (tmp_path / "a" / "zoo.db").exists()


def test_cli_tune_then_studies(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    base = ["--artifacts", str(tmp_path / "a")]
    result = runner.invoke(
        app,
        [
            *base,
            "tune",
            "fashion-mlp",
            "--trials",
            "2",
            "--epochs",
            "1",
            "--subset",
            "1000",
            "--no-retrain",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["study"]["trials"]["complete"] == 2 and payload["final"]["test_accuracy"] > 0
    listing = runner.invoke(app, [*base, "studies"])
    assert listing.exit_code == 0 and "fashion-mlp" in listing.stdout
    shown = runner.invoke(app, [*base, "studies", "show", "fashion-mlp"])
    assert shown.exit_code == 0, shown.output
    assert "complete" in shown.stdout and "final: trial" in shown.stdout
    table = runner.invoke(
        app,
        [*base, "tune", "fashion-mlp", "--trials", "1", "--epochs", "1", "--subset", "1000", "--no-retrain"],
    )
    assert table.exit_code == 0, table.output
    assert "best trial" in table.stdout and "Ankle boot" in table.stdout


@pytest.mark.parametrize("sampler", ["random", "gp", "cmaes"])
def test_other_samplers_run(sampler):
    tune(TuneConfig(**TINY, trials=2, sampler=sampler, pruner="none"))
    assert [t.state for t in _study().trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_the_library_resolves_a_variants_own_grid_and_text_axes():
    from zoo.models.registry import get_spec
    from zoo.tune.tuning import check_config

    own = TuneConfig(model="fashion-cnn2-grid", sampler="grid")
    check_config(own)
    assert own.grid == {k: list(v) for k, v in get_spec("fashion-cnn2-grid").grid.items()}
    text = TuneConfig(**TINY, grid={"lr": "0.01,0.001"})  # as `--grid lr=0.01,0.001` passes it
    check_config(text)
    assert text.sampler == "grid" and text.grid == {"lr": [0.01, 0.001]}
    assert TuneConfig(**TINY).sampler is None and check_config(TuneConfig(**TINY)).name == "fashion-mlp"
    result = tune(TuneConfig(**TINY, trials=1, grid={"lr": "0.01"}))
    assert result.to_dict()["best"]["params"] == {"lr": 0.01}
    assert result.to_dict()["study"]["name"] == "fashion-mlp"


def test_a_torn_journal_is_refused_then_repaired_with_a_backup(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    journal = tmp_path / "j.log"
    base = ["--artifacts", str(tmp_path / "a")]
    tiny = ["tune", "fashion-mlp", "--trials", "1", "--epochs", "1", "--subset", "1000", "--no-retrain"]
    assert runner.invoke(app, [*base, *tiny, "--storage", f"journal:{journal}"]).exit_code == 0
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code":4,"worker_id":"w","study_id":0,"datetime_st')  # cut short
    refused = runner.invoke(app, [*base, *tiny, "--storage", f"journal:{journal}"])
    lines = whole.count(b"\n") + 1
    assert_clean_error(refused, 1, f"torn record at line {lines}")
    assert f"zoo studies repair {journal}" in refused.stderr and refused.stdout.strip() == ""
    listing = runner.invoke(app, [*base, "studies", "--storage", f"journal:{journal}"])
    assert_clean_error(listing, 1, "torn record")
    # the next append after a torn record glues onto it: repair keeps the glued whole record
    journal.write_bytes(whole + b'{"op_code":4,"wor' + whole.splitlines(keepends=True)[-1])
    repaired = runner.invoke(app, [*base, "studies", "repair", str(journal)])
    assert repaired.exit_code == 0 and "dropped 1 torn record" in repaired.stdout
    assert journal.read_bytes() == whole + whole.splitlines(keepends=True)[-1]
    (backup,) = tmp_path.glob("j.log.bak-*")
    assert backup.read_bytes().startswith(whole)
    journal.write_bytes(whole)
    again = runner.invoke(app, [*base, *tiny, "--storage", f"journal:{journal}"])
    assert again.exit_code == 0, again.output


def test_a_journal_on_a_full_disk_is_one_line_then_repairable(tmp_path, monkeypatch, small_tmpfs):
    import os

    monkeypatch.setenv("COLUMNS", "200")
    disk = small_tmpfs("600k")
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"\0" * (free - 6000))  # room for a few journal records only
    storage = ["--storage", f"journal:{disk / 'j.log'}"]
    tiny = ["tune", "fashion-mlp", "--trials", "3", "--epochs", "1", "--subset", "1000", "--no-retrain"]
    full = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), *tiny, *storage])
    assert full.exit_code == 1 and "writing the journal" in full.stderr
    assert len(full.stderr.strip().splitlines()) == 1 and "Traceback" not in full.output
    (disk / "filler").unlink()
    runner.invoke(app, ["--artifacts", str(tmp_path / "a"), "studies", "repair", str(disk / "j.log")])
    listing = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), "studies", *storage, "--json"])
    assert listing.exit_code == 0 and json.loads(listing.stdout)[0]["name"] == "fashion-mlp"


# ------------------------------------------------------------------ grid --set, tuned epochs (issue 24)


def test_every_trial_of_a_grid_study_honours_each_set(fake_fashion_dir):
    """`--set lr=0.001` on fashion-cnn2-grid (lr is a grid axis and a search-space name) ran every lr.
    On the small official-format files (600 training images, as the subset was): the CNN's test of the best
    trial on the 10,000 real test images took seconds, and the settings each trial ran are what is tested."""
    cfg = TuneConfig(
        model="fashion-cnn2-grid",
        sampler="grid",
        fixed={"lr": "0.001", "optimizer": "adam", "dropout": "0.3"},
        subset=600,
        retrain=False,
        pruner="none",
        trials=10,
    )
    result = tune(cfg)
    trials = [t for t in result.study.trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 2  # lr, optimizer and dropout fixed: the grid's two epochs are left
    for trial in trials:
        config = trial.user_attrs["config"]
        assert (config["lr"], config["optimizer"], config["dropout"]) == (0.001, "adam", 0.3)
        record = json.loads((Path(trial.user_attrs["run_dir"]) / "run.json").read_text())
        assert record["train_config"]["lr"] == 0.001 and record["hyperparameters"]["dropout"] == 0.3
    assert sorted(t.user_attrs["config"]["epochs"] for t in trials) == [5, 10]


def test_a_set_on_a_name_the_grid_never_draws_is_refused():
    cfg = TuneConfig(
        model="fashion-cnn", sampler="grid", grid={"lr": "0.01,0.001"}, fixed={"conv_blocks": "2"}
    )
    with pytest.raises(UsageError, match="--sampler grid does not use"):
        tune(cfg)


def test_a_tuned_epochs_is_the_retrained_epochs_and_bounds_hyperband(fake_fashion_dir):
    """On the small official-format files (600 training images): what is tested is which epochs the
    retraining takes, and each retraining takes the whole training split (54,000 real images, twice)."""
    cfg = TuneConfig(
        model="fashion-mlp",
        sampler="grid",
        grid={"epochs": "1,2"},
        fixed={"hidden": "16"},
        subset=600,
        trials=2,
        retrain=True,
    )
    result = tune(cfg)
    best_epochs = result.best.params["epochs"]
    assert result.final.record.train_config["epochs"] == best_epochs
    assert _study().user_attrs["final"]["epochs"] == best_epochs
    assert tune_module.max_trial_epochs(cfg, tune_module.get_spec("fashion-mlp"), {}) == 2
    explicit = TuneConfig(model="fashion-mlp", trials=1, subset=600, retrain_epochs=1, epochs=1, study="x")
    assert tune(explicit).final.record.train_config["epochs"] == 1  # --retrain-epochs still wins


def _winner(params: dict) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        value=0.9,
        params=params,
        distributions={k: optuna.distributions.CategoricalDistribution([v]) for k, v in params.items()},
    )


def test_the_retraining_adds_the_variants_settings_unless_the_user_or_the_search_decided():
    spec = tune_module.get_spec("fashion-cnn")
    assert spec.retrain == {"epochs": 15, "augment_hflip": True, "test_time_flip": True}
    trial = {"lr": 0.003, "epochs": 3, "subset": 15000, "augment_hflip": False}
    plain = tune_module.retrain_config(TuneConfig(model=spec.name), spec, _winner({"lr": 0.003}), trial)
    assert plain == {"lr": 0.003, "epochs": 15, "augment_hflip": True, "test_time_flip": True}
    mine = TuneConfig(model=spec.name, fixed={"augment_hflip": "false"}, retrain_epochs=4)
    kept = tune_module.retrain_config(mine, spec, _winner({"lr": 0.003}), trial)
    assert kept["augment_hflip"] is False and kept["epochs"] == 4 and kept["test_time_flip"] is True
    searched = tune_module.retrain_config(
        TuneConfig(model=spec.name), spec, _winner({"epochs": 7, "test_time_flip": False}), trial
    )
    assert searched["epochs"] == 7 and "test_time_flip" not in searched  # the search decided those
    mlp = tune_module.get_spec("fashion-mlp")  # no retraining settings: the trial's own, 15 epochs
    assert tune_module.retrain_config(TuneConfig(model=mlp.name), mlp, _winner({}), trial) == {
        "lr": 0.003,
        "epochs": 15,
        "augment_hflip": False,
    }


def test_hyperband_bound_follows_the_trials_own_epochs():
    spec = tune_module.get_spec("fashion-cnn2-grid")
    grid_cfg = TuneConfig(model=spec.name, sampler="grid", grid={"epochs": [5, 10]}, epochs=4)
    assert tune_module.max_trial_epochs(grid_cfg, spec, {}) == 10
    assert tune_module.max_trial_epochs(TuneConfig(model=spec.name, epochs=4), spec, {"epochs": 7}) == 7
    assert tune_module.max_trial_epochs(TuneConfig(model="fashion-mlp", epochs=4), spec, {}) == 10  # space


def _running_trials(database: Path, study: str) -> int:
    """Trials running in `study`, 0 while the database, its tables or the study do not exist yet. Read
    without taking any lock (`immutable`): a reader's lock made the child's commit fail with "database is
    locked" (and optuna.load_study would create the tables the child may be creating)."""
    import sqlite3

    if not database.is_file():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM trials JOIN studies USING (study_id) "
                "WHERE study_name = ? AND state = 'RUNNING'",
                (study,),
            ).fetchone()
    except sqlite3.DatabaseError:  # no such table yet, or a page caught mid-write: ask again
        return 0
    return count


def _interrupted_study(tmp_path: Path, sig: int) -> tuple[int, str, str]:
    """A real `zoo tune` stopped by `sig` in its first trial's training: (exit code, stdout, stderr)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "ZOO_ARTIFACTS": str(tmp_path / "art"), "COLUMNS": "200"}
    zoo = str(Path(sys.executable).parent / "zoo")
    args = ["tune", "fashion-mlp", "--trials", "50", "--subset", "2000", "--epochs", "30", "--no-retrain"]
    proc = subprocess.Popen(
        [zoo, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a terminal's Ctrl-C: a suite started in the background inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    database = tmp_path / "art" / "zoo.db"
    deadline = time.monotonic() + 120
    # into the first trial's training: the database file alone appears before the study is in it (on a
    # busy machine a fixed sleep after it was not enough)
    while not _running_trials(database, "fashion-mlp"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the study never started a trial"
        time.sleep(0.1)
    time.sleep(0.5)  # past the trial's start, into its epochs
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert optuna.load_study(study_name="fashion-mlp", storage=f"sqlite:///{database}")
    return proc.returncode, stdout, stderr


INTERRUPTED = "interrupted: study 'fashion-mlp' is intact; run the same command to resume it"


def test_sigterm_ends_a_study_with_143_and_keeps_it(tmp_path):
    """`kill` mid-study: 128 + SIGTERM, as `zoo train` (it was 130, Ctrl-C's code, whatever the signal)."""
    import signal

    code, _, stderr = _interrupted_study(tmp_path, signal.SIGTERM)
    assert code == 143, stderr
    assert stderr.strip().splitlines() == [INTERRUPTED]


def test_ctrl_c_says_only_zoos_own_interrupted_line(tmp_path):
    """Optuna logged the interrupted trial as `[W ...] Trial 0 failed with value None.` above zoo's line."""
    import signal

    code, stdout, stderr = _interrupted_study(tmp_path, signal.SIGINT)
    assert code == 130, stderr
    assert stderr.strip().splitlines() == [INTERRUPTED] and "failed" not in stdout


def test_the_messages_say_what_is_done_and_a_resumed_studys_best_is_the_whole_studys(
    tmp_path, monkeypatch, fake_fashion_dir
):
    """`--no-retrain` said "retraining trial N's configuration"; a resumed study whose new trials all
    failed said "no best yet", then retrained the earlier best."""
    monkeypatch.setenv("COLUMNS", "200")
    base = ["--artifacts", str(tmp_path / "a"), "tune", "fashion-mlp", "--epochs", "1", "--subset", "300"]
    first = runner.invoke(app, [*base, "--trials", "1", "--no-retrain"])
    assert first.exit_code == 0, first.output
    best = _study().best_trial
    assert f"testing trial {best.number}'s own run (the study's best" in first.stdout
    assert "retraining trial" not in first.stdout and "resumed" not in first.stdout

    real = tune_module.train_run

    def trials_fail(*args, **kwargs):  # the new trials fail; the retraining trains
        if kwargs.get("evaluate_test") is False:
            raise RuntimeError("worker lost its GPU")
        return real(*args, **kwargs)

    monkeypatch.setattr(tune_module, "train_run", trials_fail)
    second = runner.invoke(app, [*base, "--trials", "2", "--retrain-epochs", "1"])
    assert second.exit_code == 0, second.output
    value = f"{best.value:.4f}"
    assert (
        f"study 'fashion-mlp' resumed: 1 earlier trial(s), best so far trial {best.number} (val acc {value})"
        in (second.stdout)
    )
    assert "no best yet" not in second.stdout
    assert (
        "trial 2 fail [2/2]: no value" in second.stdout
        and f"best trial {best.number} ({value})" in second.stdout
    )
    assert (
        f"retraining trial {best.number}'s configuration (the study's best, val acc {value})" in second.stdout
    )
    assert f"best trial {best.number}: val acc {value}" in second.stdout
    assert _study().user_attrs["final"]["trial"] == best.number and _study().user_attrs["final"]["retrained"]
