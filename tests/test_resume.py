"""Nothing lost: an interrupted training continues where it stopped and ends with the same weights as an
uninterrupted one. Interruptions are real: SIGKILL and SIGINT to a real `zoo train`, a disk that fills up."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cliutil import assert_clean_error
from safetensors.torch import load_file
from typer.testing import CliRunner

from cli.main import app
from zoo.train import runs as runs_module
from zoo.train.resume import LOCK, STATE, list_unfinished, load_state, run_lock
from zoo.train.runs import resume_run
from zoo.tune import tuning as tune_module
from zoo.tune.studies import load_study, open_storage
from zoo.tune.tuning import TuneConfig, finish, tune

runner = CliRunner()
ZOO = str(Path(sys.executable).parent / "zoo")
TRAIN = ["train", "fashion-mlp", "--epochs", "4", "--subset", "6000"]


@pytest.fixture(autouse=True)
def _needs_data(fashion_small):
    """Real Fashion-MNIST subsets (skipped when it is not installed)."""


def _env(art: Path) -> dict:
    return {**os.environ, "ZOO_ARTIFACTS": str(art), "COLUMNS": "200"}


def _foreground() -> None:
    # What a terminal's foreground job gets. A test suite started in the background (`make test &`, nohup)
    # inherits SIGINT ignored, and Python then leaves Ctrl-C ignored, as a background job should.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(art: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [ZOO, *args],
        env={**_env(art), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_foreground,
    )


def _wait_for_state(art: Path, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 120
    while True:
        states = list((art / "runs" / ".unfinished").glob(f"*/*/{STATE}"))
        if states:
            return states[0].parent
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no epoch ended"
        time.sleep(0.01)


def _weights(run_json: str) -> dict[str, torch.Tensor]:
    return load_file(Path(json.loads(run_json)["run_dir"]) / "weights.safetensors")


def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    # The uninterrupted run beside the one to kill, each on one thread (one core each, and the same
    # arithmetic in all three processes: the weights are compared bit for bit).
    one_thread = {"OMP_NUM_THREADS": "1"}
    whole_proc = subprocess.Popen(
        [ZOO, *TRAIN, "--json"],
        env={**_env(tmp_path / "a"), **one_thread},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    art = tmp_path / "b"
    proc = _start(art, *TRAIN, env=one_thread)
    folder = _wait_for_state(art, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    whole_stdout, whole_stderr = whole_proc.communicate(timeout=300)
    assert whole_proc.returncode == 0, whole_stderr
    assert 1 <= load_state(folder / STATE).epoch < 4  # killed mid-run: something left to do
    assert not list((art / "runs" / "fashion-mlp").glob("*/run.json"))  # no half-written run

    listed = runner.invoke(app, ["--artifacts", str(art), "runs", "--json"])
    assert [r["folder"] for r in json.loads(listed.stdout)] == [str(folder)]
    resumed = subprocess.run(
        [ZOO, "train", "fashion-mlp", "--resume", "--json"],
        env={**_env(art), **one_thread},
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(whole_stdout), _weights(resumed.stdout)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical
    assert json.loads(resumed.stdout)["history"] == [
        {**h, "seconds": h2["seconds"]}
        for h, h2 in zip(
            json.loads(whole_stdout)["history"], json.loads(resumed.stdout)["history"], strict=True
        )
    ]
    assert not folder.exists() and list_unfinished() == []


def test_ctrl_c_prints_the_resume_command_and_runs_clean_removes_only_what_is_named(tmp_path):
    art = tmp_path / "a"
    proc = _start(art, "train", "fashion-mlp", "--epochs", "200", "--subset", "6000")  # stopped after one
    folder = _wait_for_state(art, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert f"continue with `zoo train fashion-mlp --resume-from {folder}`" in stderr
    base = ["--artifacts", str(art)]
    assert_clean_error(runner.invoke(app, [*base, "runs", "clean"]), 2, "name the unfinished runs")
    assert_clean_error(
        runner.invoke(app, [*base, "runs", "clean", "nope"]), 2, "no unfinished run named nope"
    )
    assert folder.exists()
    cleaned = runner.invoke(app, [*base, "runs", "clean", folder.name])
    assert cleaned.exit_code == 0 and not folder.exists()
    assert_clean_error(
        runner.invoke(app, [*base, "train", "fashion-mlp", "--resume"]), 2, "no unfinished run of fashion-mlp"
    )


def test_resume_refuses_new_options(tmp_path):
    result = runner.invoke(
        app, ["--artifacts", str(tmp_path / "a"), "train", "fashion-mlp", "--resume", "--epochs", "3"]
    )
    assert_clean_error(result, 2, "--resume continues a run as it was started")


def test_a_disk_that_fills_during_training_keeps_the_last_state_and_resume_finishes(small_tmpfs):
    small_disk = small_tmpfs("16m")
    art = small_disk / "a"
    proc = _start(art, "train", "fashion-mlp", "--epochs", "8", "--subset", "8000")
    folder = _wait_for_state(art, proc)
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # take every free byte but a few KiB
        f.write(b"\0" * (os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize - 8192))
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    assert "cannot save the training state" in stderr and "No space left" in stderr
    kept = load_state(folder / STATE)  # the previous epoch's state, intact
    assert 1 <= kept.epoch < 8
    filler.unlink()
    resumed = subprocess.run(
        [ZOO, "train", "fashion-mlp", "--resume", "--json"], env=_env(art), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(json.loads(resumed.stdout)["history"]) == 8


def test_an_interrupted_retraining_of_a_study_resumes(monkeypatch, fake_fashion_dir):
    """On the small official-format files: what is tested is which epochs run where, and the retraining
    takes the whole training split (three epochs of 54,000 real images took most of a minute when loaded)."""
    cfg = TuneConfig(model="fashion-mlp", epochs=1, subset=300, retrain=False, trials=1)
    tune(cfg)
    study = load_study("fashion-mlp", open_storage())
    spec_cfg = TuneConfig(model="fashion-mlp", epochs=1, subset=300, retrain=True, retrain_epochs=3)
    spec = tune_module.check_config(spec_cfg)
    real = tune_module.train_run

    def interrupted(*args, **kwargs):
        def stop(stats):
            if stats.epoch == 2:
                raise KeyboardInterrupt

        return real(*args, **kwargs, on_epoch=stop)

    monkeypatch.setattr(tune_module, "train_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        finish(spec_cfg, spec, study, study.best_trial, tune_module.TuneCallbacks())
    (left,) = list_unfinished("fashion-mlp")
    assert left.epoch == 2 and left.name == f"fashion-mlp-best-t{study.best_trial.number:04d}"
    monkeypatch.setattr(tune_module, "train_run", real)
    epochs_run = []
    monkeypatch.setattr(
        tune_module,
        "resume_run",
        lambda folder: resume_run(folder, on_epoch=lambda s: epochs_run.append(s.epoch)),
    )
    final = finish(spec_cfg, spec, study, study.best_trial, tune_module.TuneCallbacks())
    assert [h["epoch"] for h in final.record.history] == [1, 2, 3] and epochs_run == [3]
    assert list_unfinished() == []


def _wait_for_lock(folder: Path, proc: subprocess.Popen) -> None:
    """Until `proc` holds the run's lock (it writes its pid into the lock file once it has it)."""
    deadline = time.monotonic() + 120
    while not ((folder / LOCK).is_file() and (folder / LOCK).read_text().strip() == str(proc.pid)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the resume never took the run's lock"
        time.sleep(0.01)


def _refused_at_once(art: Path, folder: Path, holder: subprocess.Popen) -> None:
    started = time.monotonic()
    second = subprocess.run(
        [ZOO, "train", "fashion-mlp", "--resume"], env=_env(art), capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1, second.stderr
    assert time.monotonic() - started < 30  # at once: before any data is loaded or any epoch trained
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert (
        f"run {folder.name} is already being resumed or trained by another process (pid {holder.pid})"
        in lines[0]
    )
    assert holder.poll() is None  # the holder trains on


def test_a_second_resume_of_a_run_is_refused_at_once_and_a_dead_holders_lock_is_free(tmp_path):
    art = tmp_path / "a"
    first = _start(art, "train", "fashion-mlp", "--epochs", "200", "--subset", "6000")
    folder = _wait_for_state(art, first)
    _refused_at_once(art, folder, first)  # the first training holds its run's lock too
    # nor may `zoo runs clean` delete the run under the training (it did: the run failed at save time)
    clean = subprocess.run([ZOO, "runs", "clean", folder.name], env=_env(art), capture_output=True, text=True)
    assert clean.returncode == 1 and "in use and were kept" in clean.stderr, clean.stderr
    assert (folder / STATE).is_file() and first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)

    resuming = _start(art, "train", "fashion-mlp", "--resume")  # the OS let go of the killed one's lock
    try:
        _wait_for_lock(folder, resuming)
        _refused_at_once(art, folder, resuming)
    finally:
        resuming.send_signal(signal.SIGKILL)
        resuming.wait(timeout=60)
    with run_lock(folder):  # a dead holder leaves no lock behind
        pass
    assert (folder / "request.json").is_file() and load_state(folder / STATE).epoch >= 1  # the run is intact


def test_a_run_that_fails_before_its_request_leaves_no_folder(tmp_path, monkeypatch):
    from zoo.core.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("no data here")

    monkeypatch.setattr(runs_module, "load", broken)
    folder = tmp_path / "artifacts" / "runs" / ".unfinished" / "fashion-mlp" / "r"
    with pytest.raises(DataError):
        runs_module.train_run("fashion-mlp", {"epochs": 1}, unfinished=folder)
    assert not (tmp_path / "artifacts" / "runs" / ".unfinished").exists()
