"""The openvino runtime and the int8 recipes: real OpenVINO and NNCF where the extra is installed."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app
from zoo.core import openvino as openvino_backend
from zoo.data import Normalizer
from zoo.export.exported import read_metadata
from zoo.export.exporter import ExportOptions, export_run
from zoo.export.quantize import DEFAULT_WITHOUT_NNCF, RECIPES, build, calibration_images, default_recipe
from zoo.inference.bench import BenchOptions, run_bench

pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'zoo[openvino]')")
pytest.importorskip("nncf", reason="the openvino extra is not installed (pip install 'zoo[openvino]')")

runner = CliRunner()
QUICK = dict(batch_sizes=(1, 8), warmup=1, iters=5, min_seconds=0.0)


def test_openvino_rows_are_measured_like_every_runtime(artifacts):
    report = run_bench(None, BenchOptions(runtimes=["onnxruntime", "openvino", "torch-cpu"], **QUICK))
    rows = {(r.runtime, r.variant): r for r in report.results}
    assert {("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")} <= set(rows)
    fp32 = rows[("openvino", "fp32")]
    assert fp32.available, fp32
    assert fp32.accuracy == pytest.approx(rows[("onnxruntime", "fp32")].accuracy, abs=1e-3)
    assert fp32.agreement_with_torch_cpu >= 0.999
    assert fp32.performance_hint == "LATENCY" and fp32.inference_precision == "f32"
    assert fp32.threads >= 1 and fp32.streams == 1
    assert sum(map(sum, fp32.metrics.confusion_matrix)) == fp32.metrics.n
    for lat in fp32.latency:
        assert 0 < lat.p50_ms <= lat.p99_ms and lat.throughput_ips > 0
    bf16 = rows[("openvino", "bf16")]
    if openvino_backend.precision_unsupported("bf16") is None:
        assert bf16.available and bf16.inference_precision == "bf16"
        assert bf16.agreement_with_torch_cpu >= 0.98
    else:
        assert not bf16.available and "bf16" in bf16.reason
    int8 = rows[("openvino", "int8")]
    assert int8.available and abs(int8.accuracy - fp32.accuracy) < 0.02
    assert report.machine.openvino.count(".") >= 2
    assert len(report.summary) == 2 and report.summary[1].startswith("batch 8: fastest fashion-mlp")


def test_a_cpu_without_bf16_gets_an_unavailable_row_and_the_rest_is_measured(artifacts, monkeypatch):
    # Mocked: this machine's CPU may well have bf16; the reason string is what a CPU without it gets.
    def unsupported(precision):
        return (
            "this CPU has no bf16 support in OpenVINO (its capabilities: FP32, INT8)"
            if precision == "bf16"
            else None
        )

    monkeypatch.setattr(openvino_backend, "precision_unsupported", unsupported)
    report = run_bench(None, BenchOptions(runtimes=["openvino"], **QUICK))
    rows = {r.variant: r for r in report.results}
    assert not rows["bf16"].available and "no bf16 support" in rows["bf16"].reason
    assert rows["fp32"].available and rows["int8"].available


def test_without_the_extra_openvino_is_listed_unavailable(artifacts, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` does where it is missing
    report = run_bench(None, BenchOptions(runtimes=["all"], variants=("fp32",), **QUICK))
    assert "pip install 'zoo[openvino]'" in report.unavailable["openvino"]
    result = runner.invoke(app, ["bench", "--runtime", "openvino"])
    assert_clean_error(result, 2, "runtime openvino is not available here: OpenVINO is not installed")


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_int8_recipe_builds_a_file_close_to_fp32(name, artifacts, fashion_small, tmp_path):
    fp32 = artifacts / "models" / "fashion-mlp" / "t0" / "model.onnx"
    meta = read_metadata(fp32)
    normalize = Normalizer(meta["mean"], meta["std"])
    calibration = calibration_images(normalize(fashion_small.train.images).numpy(), 128)
    dst = tmp_path / f"{name}.onnx"
    build(RECIPES[name], fp32, dst, calibration, tmp_path)
    x = normalize(fashion_small.test.images).numpy()

    def accuracy(path):
        logits = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})[
            0
        ]
        return float((logits.argmax(1) == fashion_small.test.labels.numpy()).mean())

    assert abs(accuracy(dst) - accuracy(fp32)) < 0.03
    assert not (tmp_path / "prepared.onnx").exists()


def test_calibration_comes_from_the_given_images_and_is_reproducible():
    images = np.arange(1000, dtype=np.float32).reshape(1000, 1, 1, 1)
    a, b = calibration_images(images, 100, seed=0), calibration_images(images, 100, seed=0)
    assert np.array_equal(a, b) and len(np.unique(a)) == 100
    assert not np.array_equal(a, calibration_images(images, 100, seed=1))


def test_export_int8_uses_nncf_here_and_a_recipe_change_rebuilds(fashion_small, tmp_path, monkeypatch):
    from zoo.train.runs import train_run

    monkeypatch.setenv("ZOO_ARTIFACTS", str(tmp_path))
    run = train_run("fashion-mlp", {"epochs": 1, "subset": 3000}, data=fashion_small, run_dir=tmp_path / "r")
    assert default_recipe() == "nncf"
    out = tmp_path / "export"
    first = export_run(run.run_dir, ExportOptions(out=out, int8=True))
    assert first.parity["int8"]["recipe"] == "nncf"
    assert read_metadata(out / "model.int8.onnx")["quantization"]["tool"] == "nncf"
    again = export_run(run.run_dir, ExportOptions(out=out, int8=True))
    assert again.up_to_date
    other = export_run(run.run_dir, ExportOptions(out=out, int8=True, int8_recipe="ort-qdq-pt-s8s8"))
    assert not other.up_to_date and other.parity["int8"]["recipe"] == "ort-qdq-pt-s8s8"
    assert read_metadata(out / "model.int8.onnx")["quantization"]["per_channel"] is False
    # without NNCF the default is onnxruntime's recipe
    monkeypatch.setitem(sys.modules, "nncf", None)
    assert default_recipe() == DEFAULT_WITHOUT_NNCF


def test_an_unknown_int8_recipe_is_one_line_before_anything_is_written(artifacts, tmp_path):
    out = tmp_path / "never"
    result = runner.invoke(
        app, ["export", str(artifacts / "runs" / "r"), "--int8", "--int8-recipe", "int4", "--out", str(out)]
    )
    assert_clean_error(result, 2, "unknown int8 recipe 'int4'; choose from: ort-qdq-pc-s8s8")
    assert not out.exists()


NETWORK_AUDIT = """
import json, sys
events = []
def audit(event, args):
    if event.startswith("socket.") or event in ("http.client.connect", "urllib.Request"):
        events.append(event)
sys.addaudithook(audit)
from pathlib import Path
import numpy as np
from zoo.core.openvino import CompiledModel
from zoo.export.quantize import RECIPES, build
src, work = Path(sys.argv[1]), Path(sys.argv[2])
calibration = np.random.default_rng(0).standard_normal((32, 1, 28, 28)).astype(np.float32)
build(RECIPES["nncf"], src, work / "q.onnx", calibration, work)
model = CompiledModel(work / "q.onnx", "int8", 1)
model(calibration[:4])
import time; time.sleep(1)  # a telemetry thread would send by now
print(json.dumps({"events": events, "telemetry_loaded": sys.modules.get("openvino_telemetry") is not None}))
"""


def test_nothing_zoo_runs_reaches_the_network(artifacts, tmp_path):
    """NNCF sends telemetry unless told not to; zoo blocks its client. Every socket a Python package opens
    goes through an audit event, so a process that quantizes and runs a model must raise none."""
    src = artifacts / "models" / "fashion-mlp" / "t0" / "model.onnx"
    # the control: without zoo's block, importing NNCF loads its telemetry client. A separate process that
    # only imports (one core), so it runs beside the audited one instead of after it.
    control = subprocess.Popen(
        [sys.executable, "-c", "import sys, nncf; print(sys.modules.get('openvino_telemetry') is not None)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", NETWORK_AUDIT, str(src), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        control_out, control_err = control.communicate(timeout=300)
    finally:
        control.kill()
        control.wait()
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"events": [], "telemetry_loaded": False}
    assert control_out.strip().splitlines()[-1] == "True", control_err


def test_an_int8_file_openvino_cannot_load_is_an_unavailable_row_with_the_reason(fashion_small, tmp_path):
    from zoo.train.runs import train_run

    run = train_run("fashion-mlp", {"epochs": 1, "subset": 600}, data=fashion_small, run_dir=tmp_path / "r")
    out = tmp_path / "models" / "fashion-mlp" / "qop"
    export_run(run.run_dir, ExportOptions(out=out, int8=True, int8_recipe="ort-qop-pc-u8s8"))
    report = run_bench(str(out), BenchOptions(runtimes=["openvino", "onnxruntime"], **QUICK))
    rows = {(r.runtime, r.variant): r for r in report.results}
    assert not rows[("openvino", "int8")].available
    assert rows[("openvino", "int8")].reason.startswith(
        "OpenVINO cannot compile model.int8.onnx: No conversion"
    )
    assert rows[("onnxruntime", "int8")].available and rows[("openvino", "fp32")].available
