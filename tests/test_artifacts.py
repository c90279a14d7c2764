"""Artifacts you can trust: whole-folder exports, idempotent `zoo export`, safe names, validated records,
a bench that measures what it can and a report that degrades. Faults happen for real: signals to a real
`zoo export` process, tampered files, names that try to leave the artifacts folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import CheckpointError, UsageError
from zoo.core.names import check_name, inside, remove_stale
from zoo.export.exported import SUMS, read_metadata, read_sums
from zoo.export.exporter import ExportConflict, ExportOptions, export_run
from zoo.inference.bench import BenchOptions, run_bench
from zoo.train.checkpoint import RECORD, RunRecord, read_record, sha256_file
from zoo.train.runs import train_run

runner = CliRunner()
QUICK = dict(batch_sizes=(1,), warmup=0, iters=2, min_seconds=0.0)
# what is checked is which exports are measured, not how fast: one batch size, two timed calls
QUICK_CLI = [
    "--runtime",
    "onnxruntime",
    "--batch-sizes",
    "1",
    "--iters",
    "2",
    "--warmup",
    "0",
    "--min-seconds",
    "0",
]
ZOO = str(Path(sys.executable).parent / "zoo")
# what is checked here is folders and files: the small official-format files keep every export fast
pytestmark = pytest.mark.usefixtures("fake_fashion_dir")


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def runs(fake_fashion, tmp_path_factory):
    """Two fashion-mlp runs with different weights (seeds 0 and 1), one epoch on the small files."""
    root = tmp_path_factory.mktemp("runs")
    return [
        train_run(
            "fashion-mlp",
            {"epochs": 1, "seed": s},
            data=fake_fashion[1],
            run_dir=root / f"r{s}",
        ).run_dir
        for s in (0, 1)
    ]


@pytest.fixture(scope="module")
def real_run(fashion_small, tmp_path_factory):
    """fashion-mlp, one epoch on 2,700 real images: its export checks parity on the 10,000 real test
    images, which takes long enough for a signal to land mid-export (on the small files it often finished
    first)."""
    root = tmp_path_factory.mktemp("real")
    return train_run(
        "fashion-mlp", {"epochs": 1, "subset": 3000}, data=fashion_small, run_dir=root / "r0"
    ).run_dir


def _zoo(artifacts: Path, *args: str):
    return runner.invoke(app, ["--artifacts", str(artifacts), *args])


def _sums_verify(folder: Path) -> bool:
    sums = read_sums(folder)
    files = {p.name for p in folder.iterdir() if p.is_file()} - {SUMS}
    return set(sums) == files and all(sha256_file(folder / n) == d for n, d in sums.items())


# ------------------------------------------------------------------ 1. demo, then the mission's commands


def test_export_best_after_the_demo_exports_the_new_study_and_skips_the_demos(tmp_path):
    art = tmp_path / "a"
    tune = ["tune", "fashion-mlp", "--trials", "1", "--epochs", "1", "--subset", "500", "--no-retrain"]
    assert _zoo(art, *tune, "--study", "demo").exit_code == 0
    first = _zoo(art, "export", "best", "--study", "demo", "--int8")  # as `make demo` does
    assert first.exit_code == 0, first.output
    assert _zoo(art, *tune, "--study", "mine").exit_code == 0
    result = _zoo(art, "export", "best", "--onnx")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout and "demo-t0" in result.stdout
    assert (art / "models" / "fashion-mlp" / "mine-t0" / "model.onnx").is_file()


# ------------------------------------------------------------------ 2. --force replaces the whole folder


def test_force_replaces_the_whole_folder_never_keeping_another_models_variant(runs, tmp_path):
    r1, r2 = runs
    folder = tmp_path / "d"
    export_run(r1, ExportOptions(out=folder, int8=True))
    with pytest.raises(ExportConflict, match=r"other weights.*--force"):
        export_run(r2, ExportOptions(out=folder))
    assert (folder / "model.int8.onnx").is_file()  # refused: nothing changed
    export_run(r2, ExportOptions(out=folder, force=True))
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["SHA256SUMS", "card.md", "model.json", "model.onnx", "parity.json"]
    assert _sums_verify(folder)
    assert read_metadata(folder / "model.onnx")["weights_sha256"] == read_record(r2).weights_sha256
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary or replaced folder left
    report = run_bench(str(folder), BenchOptions(runtimes=["onnxruntime"], **QUICK))
    assert [(r.variant, r.available) for r in report.results] == [("fp32", True)]


# ------------------------------------------------------------------ 3. interrupted exports


def _export_then_interrupt(art: Path, run: Path, sig: int) -> tuple[subprocess.Popen, Path]:
    """Start a real `zoo export` that must rebuild the folder, and send `sig` once its build folder exists.
    It checks parity on the 10,000 real test images (no ZOO_DATA_DIR), which takes long enough for the
    signal to land mid-export (on the small files it often finished first)."""
    parent = art / "models" / "fashion-mlp"
    env = {**os.environ, "ZOO_ARTIFACTS": str(art), "COLUMNS": "200"}
    env.pop("ZOO_DATA_DIR", None)
    proc = subprocess.Popen(
        [ZOO, "export", str(run), "--tta", "--force"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".zoo-tmp.") for p in parent.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the export never started building"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    proc.stderr_text = stderr  # for the callers' messages: what the command said when it ended
    return proc, parent / run.name


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_an_interrupted_export_leaves_the_old_folder_and_does_not_poison_bench(sig, real_run, tmp_path):
    # In this process the small files are the test set (the folder before, the benches after, the export
    # that finds it up to date): only the interrupted export needs the real one, to be slow enough.
    art = tmp_path / "a"
    run = tmp_path / "r0"
    shutil.copytree(real_run, run)
    result = _zoo(art, "export", str(run))
    assert result.exit_code == 0, result.output
    folder = art / "models" / "fashion-mlp" / "r0"
    before = {p.name: sha256_file(p) for p in folder.iterdir()}

    proc, _ = _export_then_interrupt(art, run, sig)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -9), proc.stderr_text
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == before and _sums_verify(folder)
    leftovers = [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    if sig == signal.SIGTERM:
        assert leftovers == [] and "Traceback" not in proc.stderr_text
    else:
        assert len(leftovers) == 1  # a killed process cannot clean up ...

    for target in ([], ["fashion-mlp"]):
        bench = _zoo(art, "bench", *target, *QUICK_CLI)
        assert bench.exit_code == 0, bench.output
    results = json.loads(_zoo(art, "bench", *QUICK_CLI, "--json").stdout)
    assert {r["export"] for r in results["results"]} == {str(folder)}

    again = _zoo(art, "export", str(run))  # ... so the next export does
    assert again.exit_code == 0 and "up to date" in again.stdout
    assert [p for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_stale_folders_of_live_processes_are_kept(tmp_path):
    live = tmp_path / f".zoo-tmp.{os.uname().nodename.replace('.', '_')}.{os.getppid()}.abcd.x"
    dead = tmp_path / f".zoo-tmp.{os.uname().nodename.replace('.', '_')}.999999999.abcd.x"
    live.mkdir()
    dead.mkdir()
    assert remove_stale(tmp_path) == [dead]
    assert live.is_dir()


# ------------------------------------------------------------------ 4. names that would escape


@pytest.mark.parametrize("name", ["../../../escaped/pwn", "/abs/x", ".hidden", "a/b", "x" * 101, "", "a b"])
def test_study_names_that_are_not_plain_names_are_refused_before_any_work(name, tmp_path):
    result = _zoo(tmp_path / "a", "tune", "fashion-mlp", "--study", name, "--trials", "1", "--epochs", "1")
    assert_clean_error(result, 2, "is not a valid name")
    assert result.stdout == ""  # no live table started before the error
    assert not (tmp_path / "a").exists() and not (tmp_path / "escaped").exists()
    for command in (["export", "best", "--study", name], ["report", "best", "--study", name]):
        assert _zoo(tmp_path / "a", *command).exit_code == 2


def test_a_study_with_a_path_for_a_name_in_shared_storage_cannot_choose_where_exports_go(runs, tmp_path):
    art = tmp_path / "a"
    art.mkdir()
    storage = f"sqlite:///{art / 'zoo.db'}"
    run = art / "runs" / "fashion-mlp" / "r0"  # a trial's run_dir is used only under the artifacts root
    shutil.copytree(runs[0], run)
    for name in ("good", "../../escaped"):  # as another user could create them on a shared database
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
        study.set_user_attr("model", "fashion-mlp")
        study.add_trial(
            optuna.trial.create_trial(
                value=0.8, params={}, distributions={}, user_attrs={"run_dir": str(run)}
            )
        )
    result = _zoo(art, "export", "best")
    assert result.exit_code == 1
    assert "../../escaped-t0" in result.stderr and "is not a valid name" in result.stderr
    assert (art / "models" / "fashion-mlp" / "good-t0" / "model.onnx").is_file()
    assert not (tmp_path / "escaped-t0").exists() and not (art / "escaped-t0").exists()


def test_name_rules():
    assert check_name("fashion-cnn_v2.1", "study") == "fashion-cnn_v2.1"
    for bad in ("..", ".", "-", "a\x00b", "a\nb", "é", None, 3):
        if bad == "-":
            continue  # a lone dash is a legal file name
        with pytest.raises(UsageError):
            check_name(bad, "study")


def test_a_symlink_inside_the_root_cannot_lead_outside(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "models").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="leads outside"):
        inside(tmp_path / "root", "models", "x")


# ------------------------------------------------------------------ 5. tampered records


def _tamper(run: Path, change) -> None:
    record = json.loads((run / RECORD).read_text())
    change(record)
    (run / RECORD).write_text(json.dumps(record))


TAMPERINGS = {
    "no weights_sha256": (lambda r: r.pop("weights_sha256"), "weights_sha256: missing"),
    "hyperparameters a list": (
        lambda r: r.__setitem__("hyperparameters", [1, 2]),
        "hyperparameters: input should be an object",
    ),
    "no train_config": (lambda r: r.pop("train_config"), "train_config: missing"),
    "num_params a string": (
        lambda r: r.__setitem__("num_params", "12"),
        "num_params: input should be a valid",
    ),
    "NaN mean": (lambda r: r["normalization"].__setitem__("mean", [float("nan")]), "finite number"),
    "a record of another format": (lambda r: r.__setitem__("format", "x/1"), "not a zoo run record"),
}


@pytest.mark.parametrize("case", list(TAMPERINGS))
@pytest.mark.parametrize("command", ["export", "compare", "report"])
def test_a_tampered_run_record_is_one_line_and_exit_1(case, command, runs, tmp_path):
    change, message = TAMPERINGS[case]
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    _tamper(run, change)
    args = {"export": [str(run)], "compare": [str(run), str(runs[1]), "--no-latency"], "report": [str(run)]}
    result = _zoo(tmp_path / "a", command, *args[command])
    assert_clean_error(result, 1, message)
    assert str(run / RECORD) in result.stderr
    assert not (tmp_path / "a" / "models").exists() and not (tmp_path / "a" / "reports").exists()


def test_run_record_round_trips_and_keeps_keys_of_a_newer_zoo(runs, tmp_path):
    data = json.loads((runs[0] / RECORD).read_text())
    record = RunRecord.from_dict({**data, "from_the_future": {"x": 1}})
    assert record.to_dict() == {**data, "from_the_future": {"x": 1}}
    with pytest.raises(CheckpointError, match="not a zoo run record"):
        RunRecord.from_dict([data])


def test_bench_refuses_torch_rows_when_the_run_dir_holds_other_weights(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_ARTIFACTS", str(tmp_path))  # bench reads run folders inside the artifacts only
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    export_run(run, ExportOptions(out=tmp_path / "e"))
    shutil.rmtree(run)
    shutil.copytree(runs[1], run)  # the folder the metadata names now holds an unrelated model
    report = run_bench(str(tmp_path / "e"), BenchOptions(runtimes=["torch-cpu", "onnxruntime"], **QUICK))
    rows = {r.runtime: r for r in report.results}
    assert not rows["torch-cpu"].available and "other weights" in rows["torch-cpu"].reason
    assert rows["onnxruntime"].available and rows["onnxruntime"].agreement_with_torch_cpu is None


# ------------------------------------------------------------------ 6. one bad file


def test_a_garbage_variant_is_an_unavailable_row_and_the_rest_is_measured(runs, tmp_path):
    art = tmp_path / "a"
    good, bad = art / "models" / "fashion-mlp" / "good", art / "models" / "fashion-mlp" / "bad"
    export_run(runs[0], ExportOptions(out=good, int8=True))
    (good / "model.int8.onnx").write_bytes(b"not an onnx model at all")
    shutil.copytree(good, bad)
    (bad / "model.onnx").write_bytes(b"garbage")
    listed = good.parent / "listed"
    shutil.copytree(good, listed)  # garbage the checksum file vouches for: it must still not crash
    (listed / SUMS).write_text(
        "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(listed.iterdir()) if p.name != SUMS)
    )
    result = _zoo(art, "bench", *QUICK_CLI, "--json")
    assert result.exit_code == 0, result.output
    rows = {(Path(r["export"]).name, r["variant"]): r for r in json.loads(result.stdout)["results"]}
    assert rows[("good", "fp32")]["available"] and rows[("listed", "fp32")]["available"]
    assert "does not match its SHA256SUMS" in rows[("good", "int8")]["reason"]
    assert "not a valid ONNX model" in rows[("listed", "int8")]["reason"]
    assert (
        not rows[("bad", "fp32")]["available"] and "not a valid ONNX model" in rows[("bad", "fp32")]["reason"]
    )


# ------------------------------------------------------------------ 7. a copied run folder


def test_a_copied_run_folder_is_reported_without_its_study(fake_fashion, tmp_path):
    run = train_run(
        "fashion-mlp",
        {"epochs": 1},
        data=fake_fashion[1],
        run_dir=tmp_path / "elsewhere" / "s1-t0",
        extra_record={"study": "s1", "trial": 0},
    ).run_dir
    art = tmp_path / "a"
    result = _zoo(art, "report", str(run))
    assert result.exit_code == 0, result.output
    assert "reported without its study section" in result.stderr and "s1" in result.stderr
    page = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "reported without its study section" in page
    assert not (art / "zoo.db").exists()
