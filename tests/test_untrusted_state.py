"""Trust nothing zoo reads (issue 25): a run folder named by a study attribute or a resume request passes
the checks a typed name passes, a storage that is not what its URL claims is one line, and a tampered
resume state is one line naming the file and the key. Everything here is real: studies written through
Optuna on SQLite, files tampered on disk, a read-only mount."""

import dataclasses
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import optuna
import pytest
from cliutil import assert_clean_error
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from cli.main import app
from zoo.core import paths
from zoo.core.errors import UntrustedPath, ZooError
from zoo.core.names import run_dir_from
from zoo.export.targets import resolve_targets
from zoo.train.checkpoint import RECORD, WEIGHTS
from zoo.train.loop import EpochStats
from zoo.train.resume import (
    REQUEST,
    STATE,
    EpochRecord,
    list_unfinished,
    newest_unfinished,
    remove_unfinished,
    unfinished_dir,
    unfinished_root,
)
from zoo.train.runs import resume_run, train_run
from zoo.tune.ablate import table
from zoo.tune.studies import open_storage, summarize
from zoo.tune.tuning import TuneCallbacks, TuneConfig, check_config, finish, tune

runner = CliRunner()
TINY = dict(model="fashion-mlp", epochs=1, subset=1000, retrain=False)


def _fingerprint(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime: "untouched" means both."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _one_line(message: str) -> str:
    assert "\n" not in message.strip(), message
    return message


@pytest.fixture(scope="module")
def outside_run(fashion_small, tmp_path_factory) -> Path:
    """A real run folder outside every test's artifacts root: what a tampered attribute points at."""
    root = tmp_path_factory.mktemp("elsewhere")
    return train_run(
        "fashion-mlp", {"epochs": 1, "subset": 3000}, data=fashion_small, run_dir=root / "some" / "run"
    ).run_dir


def _copy_outside(outside_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "some" / "where" / "run"
    shutil.copytree(outside_run, target)
    return target


def _study(name: str = "fashion-mlp") -> optuna.Study:
    """A study in the default storage, as another worker of a shared storage could have written it."""
    study = optuna.create_study(
        study_name=name, storage=open_storage(), direction="maximize", load_if_exists=True
    )
    study.set_user_attr("model", "fashion-mlp")
    study.set_user_attr("dataset", "fashion-mnist")
    return study


def _add_trial(study: optuna.Study, value: float, **user_attrs) -> None:
    study.add_trial(
        optuna.trial.create_trial(value=value, params={}, distributions={}, user_attrs=user_attrs)
    )


# ------------------------------------------------------------------ 1. run folders named by a storage


def test_run_dir_from_takes_only_a_run_folder_under_the_runs_root(tmp_path):
    runs = paths.runs_dir()
    (runs / "fashion-mlp").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (runs / "fashion-mlp" / "link").symlink_to(tmp_path / "elsewhere")
    assert run_dir_from(str(runs / "fashion-mlp" / "r1"), "test") == runs / "fashion-mlp" / "r1"
    bad = {
        None: "is not a path",
        3: "is not a path",
        "": "is not a path",
        "/some/where/run": "is outside the runs folder",
        str(runs / ".." / ".." / "x" / "y"): "climbs out",
        str(runs / "fashion-mlp" / ".." / ".." / "y"): "climbs out",
        str(runs): "is not a run folder",
        str(runs / "fashion-mlp"): "is not a run folder",
        str(runs / "fashion-mlp" / "r1" / "deeper"): "is not a run folder",
        str(runs / ".unfinished" / "r1"): "is not a valid name",
        str(runs / "fashion-mlp" / "a\nb"): "is not a valid name",
        str(runs / "fashion-mlp" / "link"): "leads outside",
    }
    for value, problem in bad.items():
        with pytest.raises(UntrustedPath) as caught:
            run_dir_from(value, "study 'x' trial 3 attribute run_dir")
        message = _one_line(str(caught.value))
        assert message.startswith("study 'x' trial 3 attribute run_dir") and problem in message, message


def test_keep_never_deletes_or_rewrites_a_run_folder_the_study_names_outside(outside_run, tmp_path):
    """`zoo tune --keep 1` on a study whose trials name folders elsewhere deleted their weights and
    rewrote their run.json. Now each is kept with one warning line, said once, and only zoo's own runs
    are pruned."""
    outside = _copy_outside(outside_run, tmp_path)
    runs = paths.runs_dir()
    (runs / "fashion-mlp").mkdir(parents=True)
    (runs / "fashion-mlp" / "link").symlink_to(outside)  # inside the root, leading out
    named = [
        str(outside),
        str(runs / ".." / ".." / "some" / "where" / "run"),
        str(runs / "fashion-mlp" / "link"),
    ]
    study = _study()
    for index, run_dir in enumerate(named):
        _add_trial(study, 0.01 * index, run_dir=run_dir)  # below any trained trial: outside the best 1
    before = _fingerprint(outside)
    warnings: list[str] = []

    result = tune(TuneConfig(**TINY, trials=2, keep=1), TuneCallbacks(warning=warnings.append))

    assert _fingerprint(outside) == before
    assert len(warnings) == len(named), warnings  # after each of the 2 trials, yet once per trial
    for number, message in zip(range(len(named) - 1, -1, -1), warnings, strict=True):  # worst last
        assert _one_line(message).startswith(f"kept its weights: study 'fashion-mlp' trial {number} ")
    trained = sorted((t for t in result.study.trials if t.number >= len(named)), key=lambda t: -t.value)
    kept = [(Path(t.user_attrs["run_dir"]) / WEIGHTS).exists() for t in trained]
    assert kept == [True, False]  # zoo's own runs are still pruned


def test_a_best_trial_outside_the_root_is_not_loaded_or_rewritten(outside_run, tmp_path):
    outside = _copy_outside(outside_run, tmp_path)
    study = _study()
    _add_trial(study, 0.99, run_dir=str(outside), config={"epochs": 1})
    before = _fingerprint(outside)
    cfg = TuneConfig(**TINY)
    with pytest.raises(ZooError) as caught:
        finish(cfg, check_config(cfg), study, study.best_trial, TuneCallbacks())
    assert "study 'fashion-mlp' trial 0 attribute run_dir" in _one_line(str(caught.value))
    assert _fingerprint(outside) == before


def test_a_best_trial_whose_config_is_no_object_is_one_line():
    study = _study()
    _add_trial(study, 0.99, config="epochs=1")
    cfg = TuneConfig(**TINY)
    with pytest.raises(ZooError, match="study 'fashion-mlp' trial 0 attribute config is not an object"):
        finish(cfg, check_config(cfg), study, study.best_trial, TuneCallbacks())


@pytest.mark.parametrize(
    "attrs, trial_attrs, message",
    [
        ({"final": "RUN"}, {}, "study 'fashion-mlp' attribute final.run_dir"),
        ({}, {"run_dir": "RUN"}, "study 'fashion-mlp' trial 0 attribute run_dir"),
        ({"final": "INSIDE", "trial_of_final": "../x"}, {}, "attribute final.trial '../x' is not a trial"),
        ({"final": ["not", "an", "object"]}, {}, "attribute final is not an object"),
    ],
)
def test_export_best_refuses_a_run_folder_the_study_names_outside(
    outside_run, tmp_path, attrs, trial_attrs, message
):
    outside = _copy_outside(outside_run, tmp_path)
    inside = paths.runs_dir() / "fashion-mlp" / "t0"
    shutil.copytree(outside_run, inside)
    where = {"RUN": str(outside), "INSIDE": str(inside)}
    study = _study()
    if "final" in attrs:
        final = attrs["final"]
        if isinstance(final, str):
            final = {"trial": attrs.get("trial_of_final", 0), "run_dir": where[final], "retrained": True}
        study.set_user_attr("final", final)
    _add_trial(study, 0.9, **{k: where.get(v, v) for k, v in trial_attrs.items()})
    with pytest.raises(ZooError) as caught:
        resolve_targets("best")
    assert message in _one_line(str(caught.value))


def test_a_study_listing_and_an_ablation_table_skip_attributes_of_the_wrong_type():
    """`zoo studies` and an ablation's table read attributes any worker writes: a value of the wrong type
    is shown as missing, not a crash."""
    study = _study("shared")
    study.set_user_attr("model", ["not", "a", "name"])
    study.set_user_attr("final", "not an object")
    summary = summarize(study)
    assert summary.model is None and summary.test_accuracy is None
    choice = optuna.distributions.CategoricalDistribution(["base"])
    for seed, test_acc in ((0, 0.8), (1, "abc"), (2, [1])):
        study.add_trial(
            optuna.trial.create_trial(
                value=0.8,
                params={"variant": "base", "seed": seed},
                distributions={"variant": choice, "seed": optuna.distributions.IntDistribution(0, 9)},
                user_attrs={"test_acc": test_acc, "num_params": "many"},
            )
        )
    (row,) = table(study, ["base"], {"base": {}})["rows"]
    assert row["seeds"] == 3 and row["test_acc"] == (0.8, 0.0) and row["num_params"] is None


# ------------------------------------------------------------------ 2. storages that are not what they claim


def _sqlite_with(tmp_path: Path, change: str) -> str:
    """A real Optuna database, then changed with plain SQL as a foreign tool or version would."""
    path = tmp_path / "zoo.db"
    open_storage(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.executescript(change)
    return f"sqlite:///{path}"


STORAGES = {
    "a text file": (
        lambda t: (t / "notes.db").write_text("not a database\n" * 50) and f"sqlite:///{t / 'notes.db'}",
        "is not an Optuna study database (file is not a database)",
    ),
    "an unknown schema revision": (
        lambda t: _sqlite_with(t, "UPDATE alembic_version SET version_num = 'v9.9.9.z';"),
        "holds a table schema this Optuna",
    ),
    "a table of another shape": (
        lambda t: _sqlite_with(t, "DROP TABLE studies; CREATE TABLE studies (x INTEGER);"),
        "is not an Optuna study database (no such column",
    ),
    "a journal of other records": (
        lambda t: (t / "j.log").write_text('{"foo": 1}\n{"foo": 2}\n') and f"journal:{t / 'j.log'}",
        "is not an Optuna journal: line 1 is a JSON record without an op_code",
    ),
    "a journal of operations Optuna cannot replay": (
        lambda t: (t / "j.log").write_text('{"op_code": 0}\n') and f"journal:{t / 'j.log'}",
        "holds records Optuna cannot replay",
    ),
    "a database under a file": (
        lambda t: (t / "file").write_text("x") and f"sqlite:///{t / 'file' / 'sub' / 'zoo.db'}",
        "is a file); pick a writable place",
    ),
    "a journal under a file": (
        lambda t: (t / "file").write_text("x") and f"journal:{t / 'file' / 'j.log'}",
        "is a file); pick a writable place",
    ),
}


@pytest.mark.parametrize("case", STORAGES)
def test_a_storage_that_is_not_what_it_claims_is_one_line(case, tmp_path):
    make, message = STORAGES[case]
    url = make(tmp_path)
    with pytest.raises(ZooError) as caught:
        open_storage(url, heartbeat=False)
    text = _one_line(str(caught.value))
    assert message in text and url.split(":", 1)[1].lstrip("/") in text, text
    listing = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), "studies", "--storage", url])
    assert_clean_error(listing, 1, message)


@pytest.fixture
def read_only(tmp_path):
    """A real read-only mount holding an Optuna database; skipped where mounting is not allowed."""
    folder = tmp_path / "ro"
    folder.mkdir()
    open_storage(f"sqlite:///{folder / 'zoo.db'}")
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (not root)")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)  # a test's open storage keeps it busy


def test_a_storage_on_a_read_only_mount_is_read_but_not_written(read_only):
    existing = f"sqlite:///{read_only / 'zoo.db'}"
    assert optuna.get_all_study_summaries(open_storage(existing, heartbeat=False)) == []  # listing works
    for url, fix in (
        (existing, "cannot be written here"),  # a worker would fail at its first write, mid-study
        (f"sqlite:///{read_only / 'new.db'}", "cannot be written here"),
        (f"sqlite:///{read_only / 'sub' / 'new.db'}", "Read-only file system"),
        (f"journal:{read_only / 'j.log'}", "Read-only file system"),
    ):
        with pytest.raises(ZooError) as caught:
            open_storage(url)
        assert fix in _one_line(str(caught.value)) and "pick a writable place" in str(caught.value)
    assert sorted(p.name for p in read_only.iterdir()) == ["zoo.db"]


# ------------------------------------------------------------------ 3. the resume state


@pytest.fixture(scope="module")
def interrupted(fashion_small, tmp_path_factory) -> Path:
    """A real unfinished run of fashion-mlp: 2 epochs planned, interrupted after the first."""
    root = tmp_path_factory.mktemp("unfinished")

    def stop(stats):
        raise KeyboardInterrupt

    paths.set_artifacts_dir(root)  # its destination must lie under the runs root it is written for
    try:
        with pytest.raises(KeyboardInterrupt):
            train_run(
                "fashion-mlp",
                {"epochs": 2, "subset": 3000},
                data=fashion_small,
                run_dir=root / "runs" / "fashion-mlp" / "r1",
                unfinished=root / "saved",
                on_epoch=stop,
            )
    finally:
        paths.set_artifacts_dir(None)
    return root / "saved"


def _unfinished(interrupted: Path) -> Path:
    """The interrupted run, copied into this test's artifacts root (its destination moved along)."""
    folder = unfinished_dir("fashion-mlp", "r1")
    shutil.copytree(interrupted, folder)
    _edit_request(folder, lambda r: r.__setitem__("run_dir", str(paths.runs_dir() / "fashion-mlp" / "r1")))
    return folder


def _edit_request(folder: Path, change) -> None:
    request = json.loads((folder / REQUEST).read_text())
    change(request)
    (folder / REQUEST).write_text(json.dumps(request))


def _edit_state(folder: Path, change) -> None:
    """Rewrite the state's JSON metadata (or its tensors) as a tampering tool would."""
    path = folder / STATE
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    tensors = load_file(path)
    meta = json.loads(metadata["state"])
    change(meta, tensors)
    save_file(tensors, path, metadata={**metadata, "state": json.dumps(meta)})


def _set(key, value):
    return lambda r: r.__setitem__(key, value)


REQUESTS = {
    "no overrides": (lambda r: r.pop("overrides"), "overrides: missing"),
    "overrides a list": (_set("overrides", [1, 2]), "overrides: input should be an object"),
    "an lr of abc": (lambda r: r["overrides"].__setitem__("lr", "abc"), "overrides: lr=abc is not allowed"),
    "epochs a string": (_set("epochs", "2"), "epochs: input should be a valid integer"),
    "an unknown model": (_set("model", "../../x"), "model: '../../x' is not a valid name"),
    "a record key riding along": (
        lambda r: r["extra_record"].__setitem__("model", "fashion-cnn"),
        "extra_record.model: unknown key",
    ),
    "a destination outside": (_set("run_dir", "/some/where/run"), "key run_dir '/some/where/run' is outside"),
    "not an object": (lambda r: r.clear(), "is not a zoo resume request"),
}
STATES = {
    "no history": (lambda m, t: m.pop("history"), "history: missing"),
    "an lr of abc": (lambda m, t: m["optimizer_groups"][0].__setitem__("lr", "abc"), "optimizer_groups.0.lr"),
    "a history entry too many": (
        lambda m, t: m["history"].append(m["history"][0]),
        "history must hold epochs",
    ),
    "a foreign history key": (lambda m, t: m["history"][0].__setitem__("x", 1), "history.0.x: unknown key"),
    "a scaler of text": (lambda m, t: m.__setitem__("scaler", {"scale": "big"}), "scaler.scale"),
    "no generator state": (lambda m, t: t.pop("rng.generator"), "tensor rng.generator is missing"),
    "a stray optimizer tensor": (
        lambda m, t: t.__setitem__("optim.x.y", t["rng.torch"].clone()),
        "'optim.x.y'",
    ),
    "an rng of floats": (
        lambda m, t: t.__setitem__("rng.torch", t["rng.torch"].float()),
        "rng.torch is missing",
    ),
}


def _damaged(folder: Path, where: str, key: str) -> str:
    """The one line `zoo runs` shows and `resume_run` raises for the tampered run in `folder`."""
    (listed,) = list_unfinished()
    assert listed.folder == folder and listed.damaged is not None
    reason = _one_line(listed.damaged)
    assert reason.startswith(str(folder / where)) and key in reason, reason
    assert reason.endswith(f"`zoo runs clean {folder.name}` removes that unfinished run")
    with pytest.raises(ZooError) as caught:
        resume_run(folder)
    assert _one_line(str(caught.value)) == reason
    return reason


@pytest.mark.parametrize("case", REQUESTS)
def test_a_tampered_request_is_one_line_naming_the_file_and_the_key(case, interrupted):
    folder = _unfinished(interrupted)
    change, key = REQUESTS[case]
    _edit_request(folder, change)
    _damaged(folder, REQUEST, key)
    assert not Path("/some/where/run").exists()


@pytest.mark.parametrize("case", STATES)
def test_a_tampered_state_is_one_line_naming_the_file_and_the_key(case, interrupted):
    folder = _unfinished(interrupted)
    change, key = STATES[case]
    _edit_state(folder, change)
    _damaged(folder, STATE, key)
    assert not (paths.runs_dir() / "fashion-mlp" / "r1").exists()  # nothing trained, nothing saved


def test_zoo_runs_lists_a_damaged_run_beside_the_good_ones(interrupted):
    good = _unfinished(interrupted)
    bad = unfinished_dir("fashion-mlp", "r2")
    shutil.copytree(good, bad)
    _edit_request(bad, _set("epochs", "many"))
    listing = runner.invoke(app, ["runs", "--json"])
    assert listing.exit_code == 0, listing.output
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["r1"]["damaged"] is None and rows["r1"]["epoch"] == 1 and rows["r1"]["epochs"] == 2
    assert f"{bad / REQUEST} is not a valid resume request: epochs" in rows["r2"]["damaged"]
    assert newest_unfinished("fashion-mlp").folder == good  # a damaged run is never the one continued
    cleaned = runner.invoke(app, ["runs", "clean", "r2"])
    assert cleaned.exit_code == 0 and not bad.exists()


def test_an_untampered_state_passes_the_contract_and_resumes(interrupted):
    folder = _unfinished(interrupted)
    (listed,) = list_unfinished()
    assert listed.damaged is None and (listed.epoch, listed.epochs) == (1, 2)
    result = resume_run(folder)
    assert [h["epoch"] for h in result.record.history] == [1, 2]
    assert result.run_dir == paths.runs_dir() / "fashion-mlp" / "r1" and (result.run_dir / RECORD).is_file()


def test_removing_an_unfinished_run_elsewhere_leaves_its_parent_folders(interrupted, tmp_path):
    """`--resume-from` may name a folder outside the artifacts root: zoo removes that run, and tidies
    empty parent folders only inside its own unfinished root."""
    elsewhere = tmp_path / "mine" / "fashion-mlp" / "r1"
    shutil.copytree(interrupted, elsewhere)
    remove_unfinished(elsewhere)
    assert not elsewhere.exists() and (tmp_path / "mine" / "fashion-mlp").is_dir()
    inside = _unfinished(interrupted)
    remove_unfinished(inside)
    assert not unfinished_root().exists()  # its own empty <model>/ and .unfinished/ are tidied


def test_the_history_contract_is_the_epoch_record_fit_rebuilds():
    assert set(EpochRecord.__annotations__) == {f.name for f in dataclasses.fields(EpochStats)}
