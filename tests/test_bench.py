"""zoo bench on a tiny exported model: sane figures, accuracy equal to an independent computation."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import UsageError, ZooError
from zoo.inference.bench import BenchOptions, run_bench, save_results
from zoo.inference.bench_results import read_results

runner = CliRunner()
QUICK = dict(batch_sizes=(1, 8), warmup=1, iters=5, min_seconds=0.0)


def test_figures_are_sane_and_accuracy_is_independent(artifacts, fashion_small):
    report = run_bench(None, BenchOptions(runtimes=["onnxruntime", "torch-cpu"], **QUICK))
    entries = {(r.runtime, r.variant): r for r in report.results}
    assert set(entries) == {("torch-cpu", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")}
    for r in entries.values():
        assert r.available and r.threads >= 1
        assert [lat.batch_size for lat in r.latency] == [1, 8]
        for lat in r.latency:
            assert 0 < lat.p50_ms <= lat.p90_ms <= lat.p99_ms
            assert lat.throughput_ips > 0 and lat.iterations >= 5 and lat.first_call_ms > 0
    # independent: plain onnxruntime on the same images, normalised by hand from the file's metadata
    model_path = artifacts / "models" / "fashion-mlp" / "t0" / "model.onnx"
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(model_path)).metadata_props}
    pixels = fashion_small.test.images.numpy().astype(np.float32) / 255.0
    x = ((pixels - meta["mean"][0]) / meta["std"][0]).astype(np.float32)
    logits = ort.InferenceSession(str(model_path)).run(None, {"images": x})[0]
    expected = float((logits.argmax(1) == fashion_small.test.labels.numpy()).mean())
    assert entries[("onnxruntime", "fp32")].accuracy == pytest.approx(expected, abs=1e-4)
    assert entries[("onnxruntime", "fp32")].agreement_with_torch_cpu >= 0.999
    assert entries[("torch-cpu", "fp32")].latency[0].speedup_vs_torch_cpu == pytest.approx(1.0)
    # every row names the export it measured by its weights, as the ONNX metadata records them
    assert {r.weights_sha256 for r in report.results} == {meta["weights_sha256"]}
    assert {r.tta for r in report.results} == {False}


def test_torch_rows_of_a_tta_export_average_each_image_with_its_mirror(artifacts, fashion_small, tmp_path):
    """A `--tta` graph averages each image's logits with its mirror's: torch rows that ran one pass
    compared another function with it (agreement 0.89 for this model, and a speed-up of two against one)."""
    from zoo.data import Normalizer
    from zoo.export.exporter import ExportOptions, export_run
    from zoo.train.checkpoint import load_run

    run_dir = artifacts / "runs" / "r"  # inside the artifacts folder: the only run folders bench reads
    folder = tmp_path / "models" / "fashion-mlp" / "tta"
    export_run(run_dir, ExportOptions(out=folder, tta=True))
    options = BenchOptions(runtimes=["onnxruntime", "torch-cpu"], variants=("fp32",), **QUICK)
    rows = {r.runtime: r for r in run_bench(str(folder), options).results}
    assert all(r.available and r.tta for r in rows.values())
    assert rows["onnxruntime"].agreement_with_torch_cpu >= 0.999
    # the torch figure is the flip-averaged model's, computed here by hand
    model, record = load_run(run_dir)
    x = Normalizer(record.normalization["mean"], record.normalization["std"])(fashion_small.test.images)
    with torch.inference_mode():
        single, mirrored = model(x), model(x.flip(-1))
    labels = fashion_small.test.labels
    averaged = float((((single + mirrored) / 2).argmax(1) == labels).float().mean())
    assert float((single.argmax(1) == labels).float().mean()) != pytest.approx(averaged, abs=1e-3)
    assert rows["torch-cpu"].accuracy == pytest.approx(averaged, abs=1e-4)
    assert rows["onnxruntime"].accuracy == pytest.approx(averaged, abs=1e-3)


def test_results_are_saved_and_read_back_as_written(artifacts):
    report = run_bench(None, BenchOptions(runtimes=["onnxruntime"], variants=("fp32",), **QUICK))
    folder = save_results(report)
    saved = json.loads((folder / "results.json").read_text())
    assert saved["schema"] == "zoo.bench/1" and saved["results"][0]["confusion_png"].endswith(".png")
    png = folder / saved["results"][0]["confusion_png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| fashion-mlp | onnxruntime | fp32 |" in (folder / "results.md").read_text()
    assert "performance_hint" not in saved["results"][0]  # OpenVINO's settings only on its rows
    again = read_results(folder / "results.json")
    assert again.to_dict() == saved == report.to_dict()


def test_all_reports_unavailable_runtimes_and_naming_one_is_an_error(artifacts):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    report = run_bench(None, BenchOptions(runtimes=["all"], variants=("fp32",), **QUICK))
    assert "CUDA" in report.unavailable["torch-cuda"] or "cuda" in report.unavailable["torch-cuda"]
    assert "onnxruntime-cuda" in report.unavailable
    with pytest.raises(UsageError, match="torch-cuda is not available"):
        run_bench(None, BenchOptions(runtimes=["torch-cuda"], **QUICK))


def test_cli_tables_and_json(artifacts, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    args = [
        "bench",
        "--runtime",
        "onnxruntime",
        "--runtime",
        "torch-cpu",
        "--batch-sizes",
        "1,4",
        "--warmup",
        "1",
        "--iters",
        "3",
        "--min-seconds",
        "0",
        "--variants",
        "fp32",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Ankle boot" in result.stdout and "p99 ms" in result.stdout and "torch-cpu" in result.stdout
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["results"][0]["latency"][0]["p50_ms"] > 0


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["bench", "--runtime", "tensorrt"], 2, "unknown runtime"),
        (["bench", "--batch-sizes", "1,x"], 2, "comma-separated integers"),
        (["bench", "--variants", "int4"], 2, "unknown variant"),
        (["bench", "nothing-here.onnx"], 2, "not an .onnx file"),
    ],
)
def test_cli_bad_input(artifacts, args, code, message, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, args)
    assert_clean_error(result, code, message)


def test_empty_models_folder_says_export_first(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["--artifacts", str(tmp_path), "bench"])
    assert result.exit_code == 1 and "run `zoo export best` first" in result.stderr


def test_onnx_without_metadata_or_with_the_wrong_shape(artifacts, tmp_path):
    src = artifacts / "models" / "fashion-mlp" / "t0" / "model.onnx"
    plain = onnx.load(str(src))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(ZooError, match="no zoo metadata"):
        run_bench(str(tmp_path / "plain.onnx"), BenchOptions(runtimes=["onnxruntime"], **QUICK))
    wrong = onnx.load(str(src))
    for p in wrong.metadata_props:
        if p.key == "dataset":
            p.value = json.dumps("cifar10")
    onnx.save(wrong, str(tmp_path / "wrong.onnx"))
    with pytest.raises(ZooError, match="not exported for this dataset"):
        run_bench(str(tmp_path / "wrong.onnx"), BenchOptions(runtimes=["onnxruntime"], **QUICK))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ZooError, match="not a valid ONNX model"):
        run_bench(str(tmp_path / "junk.onnx"), BenchOptions(runtimes=["onnxruntime"], **QUICK))


def test_at_80_columns_every_latency_figure_shows_in_full(artifacts, monkeypatch, tmp_path):
    """A log or CI is 80 columns wide: the wide table cut every column to a character or two."""
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "bench"
    args = ["bench", "--runtime", "onnxruntime", "--runtime", "torch-cpu", "--batch-sizes", "1,256"]
    result = runner.invoke(
        app, [*args, "--warmup", "0", "--iters", "3", "--min-seconds", "0", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    tables = result.stdout[result.stdout.index("accuracy on the test set") :]
    assert "…" not in tables and max(len(line) for line in tables.splitlines()) <= 80
    saved = json.loads((out / "results.json").read_text())
    for r in saved["results"]:
        for lat in r["latency"]:
            for figure in (f"{lat['p50_ms']:.3f}", f"{lat['p99_ms']:.3f}", f"{lat['throughput_ips']:,.0f}"):
                assert figure in tables
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal keeps the one wide table
    wide = runner.invoke(app, [*args, "--warmup", "0", "--iters", "3", "--min-seconds", "0"])
    assert "latency and throughput" in wide.stdout


def test_a_busy_machine_is_warned_about_and_recorded(artifacts, tmp_path):
    """Two busy-loop processes compete for the cores while zoo bench measures: the figures must say so."""
    import subprocess
    import sys

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        options = BenchOptions(
            runtimes=["onnxruntime"], batch_sizes=(1, 8), warmup=1, iters=5, min_seconds=0.5
        )
        report = run_bench(None, options)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    noise = report.machine.noise
    assert noise.busy and noise.other_processes_cores > 0.25
    assert any(w.startswith("the machine was busy") for w in noise.warnings)
    latencies = [lat for r in report.measured for lat in r.latency]
    assert latencies and all(lat.cv is not None and lat.p99_over_p50 is not None for lat in latencies)
    folder = save_results(report, tmp_path / "b")
    assert "**warning**: the machine was busy" in (folder / "results.md").read_text()


def test_drift_makes_a_row_unstable_but_the_jitter_of_single_calls_does_not(monkeypatch):
    """One runner slows down for good halfway (drift), the other has a 1.8 ms call in every ten of 0.5 ms
    (the interrupts of a quiet machine): only the first is untrustworthy. The calls advance a clock of
    their own, so what is tested is the statistic, not how precisely a loaded machine sleeps (real sleeps
    made this test fail under load: block CV 0.105 where the pattern's is 0)."""
    import itertools

    from zoo.inference import bench as bench_module
    from zoo.inference.bench import Runner, latency
    from zoo.inference.noise import NoiseMonitor, assess

    clock = [0.0]

    def runner(delay):
        calls = itertools.count()

        def call(x):
            clock[0] += delay(next(calls))
            return x

        return Runner("python", "fp32", "cpu", 1, 0.0, call)

    options = BenchOptions(warmup=0, iters=100, min_seconds=0.0)
    batch = np.zeros((1, 1), np.float32)
    with NoiseMonitor() as monitor, monkeypatch.context() as patched:
        patched.setattr(bench_module.time, "perf_counter", lambda: clock[0])
        drifting = latency(runner(lambda n: 0.0005 if n < 50 else 0.002), batch, options)
        jittery = latency(runner(lambda n: 0.0018 if n % 10 == 1 else 0.0005), batch, options)
    rows = [(f"{m} python fp32", [lat]) for m, lat in (("drifting", drifting), ("jittery", jittery))]
    noise = assess(monitor, rows)
    assert jittery.cv > 0.25 and jittery.block_cv < 0.10  # single calls spread, block means do not
    assert drifting.block_cv > 0.10
    assert any("drifting python fp32 batch 1" in row for row in noise.unstable_rows)
    assert not any("jittery" in row for row in noise.unstable_rows)


def _no_work(monkeypatch):
    """Make choosing the runtimes fail loudly: a refusal must come before any work."""
    from zoo.inference import bench as bench_module

    def chosen(*args, **kwargs):
        raise AssertionError("the benchmark started before refusing")

    monkeypatch.setattr(bench_module, "select_runtimes", chosen)


def test_threads_are_bounded_before_any_work(artifacts, monkeypatch):
    """`--threads 9999` started thousands of threads and printed nothing for 300 s: one line, exit 2,
    naming the range this machine allows (4 threads per usable core)."""
    from zoo.inference.bench import default_threads

    limit = 4 * default_threads()
    monkeypatch.setenv("COLUMNS", "200")
    _no_work(monkeypatch)
    for threads in (9999, limit + 1, 0, -3):
        result = runner.invoke(app, ["bench", "--threads", str(threads)])
        assert_clean_error(result, 2, f"--threads {threads} is out of range: 1 to {limit} here")
    with pytest.raises(AssertionError, match="started"):  # the largest allowed passes the check
        run_bench(None, BenchOptions(threads=limit, **QUICK))


def _tampered(src, tmp_path, run_dir):
    """A copy of model.onnx whose metadata names `run_dir`: the file is otherwise intact."""
    model = onnx.load(str(src))
    for p in model.metadata_props:
        if p.key == "run_dir":
            p.value = json.dumps(run_dir)
    folder = tmp_path / "tampered"
    folder.mkdir(exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


@pytest.mark.parametrize("where", ["climbs", "elsewhere", "link-out", "relative-elsewhere"])
def test_a_run_dir_from_tampered_metadata_outside_the_artifacts_is_refused_unread(
    where, exported, tmp_path, monkeypatch
):
    """The torch rows load the run folder the ONNX metadata names: only one inside the artifacts folder
    (or zoo's weights folders) is read. Elsewhere, even a faithful copy of the run (its sha256 matches),
    is one UntrustedPath line in the row; the onnxruntime rows are measured as before."""
    import shutil

    from zoo.core import paths
    from zoo.inference import bench as bench_module

    art = tmp_path / "art"
    (art / "runs").mkdir(parents=True)
    monkeypatch.setenv("ZOO_ARTIFACTS", str(art))
    paths.set_artifacts_dir(None)
    copy = tmp_path / "elsewhere" / "fashion-mlp" / "r"
    shutil.copytree(exported / "runs" / "r", copy)  # a valid run: the old code measured it
    (art / "runs" / "out").symlink_to(copy.parent, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    run_dir = {
        "climbs": str(art / "runs" / ".." / ".." / "elsewhere" / "fashion-mlp" / "r"),
        "elsewhere": str(copy),
        "link-out": str(art / "runs" / "out" / "r"),
        "relative-elsewhere": "elsewhere/fashion-mlp/r",
    }[where]
    path = _tampered(exported / "models" / "fashion-mlp" / "t0" / "model.onnx", tmp_path, run_dir)
    loaded = []
    monkeypatch.setattr(bench_module, "load_run", lambda *a, **k: loaded.append(a) or 1 / 0)
    options = BenchOptions(runtimes=["torch-cpu", "onnxruntime"], variants=("fp32",), **QUICK)
    rows = {r.runtime: r for r in run_bench(str(path), options).results}
    torch_row = rows["torch-cpu"]
    assert not torch_row.available and not loaded
    problem = {"climbs": "climbs out with '..'", "link-out": "leads outside (a link)"}.get(
        where, "is outside"
    )
    assert f"{path} metadata run_dir {run_dir!r} {problem}" in torch_row.reason
    assert "pass --artifacts" in torch_row.reason and "\n" not in torch_row.reason
    assert rows["onnxruntime"].available
