"""The CUDA paths on a real GPU: training with the data on the device, the fused optimizer, bf16 and fp16
autocast, a CUDA-trained run's checkpoint on the CPU, export parity and the torch-cuda bench rows.

Skipped where PyTorch sees no GPU (CI); `benchmarks/gpu_check.sh` runs them on a GPU machine."""

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data import Normalizer
from zoo.export.exported import normalise, onnx_logits
from zoo.export.exporter import ExportOptions, export_run
from zoo.inference.bench import BenchOptions, run_bench
from zoo.train.checkpoint import load_run
from zoo.train.config import TrainConfig
from zoo.train.loop import evaluate, make_optimizer
from zoo.train.runs import evaluate_run, train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

QUICK = dict(batch_sizes=(1, 64), warmup=2, iters=10, min_seconds=0.0)


@pytest.fixture(scope="module")
def cuda_run(fashion_small, tmp_path_factory):
    """fashion-cnn-fast trained 3 epochs on CUDA in fp32 on 2,700 real images: its run folder."""
    run = train_run(
        "fashion-cnn-fast",
        {"epochs": 3, "subset": 3000, "device": "cuda", "precision": "fp32"},
        data=fashion_small,
        run_dir=tmp_path_factory.mktemp("cuda") / "runs" / "fashion-cnn-fast" / "r",
    )
    return run.run_dir


def test_a_cuda_run_learns_and_its_checkpoint_scores_the_same_on_the_cpu(cuda_run, fashion_small):
    model, record = load_run(cuda_run)
    assert record.device.startswith("cuda") and record.precision == "fp32"
    recorded = record.test_metrics["accuracy"]
    assert recorded > 0.75  # 3 epochs of 2,700 images: a CNN that did not learn stays near 10%
    on_cpu = evaluate_run(model, record, test=fashion_small.test).metrics["accuracy"]
    # cuDNN convolutions may use TF32: a few borderline images of 10,000 can change class, no more
    assert abs(on_cpu - recorded) <= 0.002


def test_cuda_and_cpu_logits_of_one_model_agree(cuda_run, fashion_small):
    model, record = load_run(cuda_run)
    normalize = Normalizer(record.normalization["mean"], record.normalization["std"])
    test = fashion_small.test.take(np.arange(2000))
    on_cpu = evaluate(model, test, normalize).logits
    model.to("cuda")
    on_cuda = evaluate(model, test, Normalizer(*normalize_stats(record), device="cuda")).logits.cpu()
    assert torch.allclose(on_cuda, on_cpu, atol=5e-2, rtol=1e-2)
    assert (on_cuda.argmax(1) == on_cpu.argmax(1)).float().mean() >= 0.998


def normalize_stats(record):
    return record.normalization["mean"], record.normalization["std"]


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd-nesterov"])
def test_the_optimizer_is_fused_on_cuda_only(optimizer):
    config = TrainConfig(optimizer=optimizer)
    model = torch.nn.Linear(4, 2)
    assert not make_optimizer(model, config).defaults["fused"]
    assert make_optimizer(model.cuda(), config).defaults["fused"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cuda(precision, fashion_small, tmp_path):
    run = train_run(
        "fashion-cnn-fast",
        {"epochs": 2, "subset": 3000, "device": "cuda", "precision": precision},
        data=fashion_small,
        run_dir=tmp_path / "r",
    )
    assert run.record.precision == precision
    losses = [epoch["train_loss"] for epoch in run.record.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert run.record.test_metrics["accuracy"] > 0.7


def test_auto_precision_is_bf16_on_a_gpu_with_bf16_units(fashion_small, tmp_path):
    if not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("this GPU has no native bf16")
    run = train_run(
        "fashion-mlp",
        {"epochs": 1, "subset": 3000, "device": "auto"},
        data=fashion_small,
        run_dir=tmp_path / "r",
    )
    assert run.record.device.startswith("cuda") and run.record.precision == "bf16"


def test_export_of_a_cuda_run_matches_torch_on_cuda_and_cpu(cuda_run, fashion_small, tmp_path):
    import onnxruntime as ort

    folder = tmp_path / "models" / "fashion-cnn-fast" / "t0"
    export_run(cuda_run, ExportOptions(out=folder))  # checks ONNX Runtime against PyTorch on the CPU
    model, record = load_run(cuda_run)
    mean, std = normalize_stats(record)
    pixels = fashion_small.test.images[:1000].numpy()
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx = torch.from_numpy(onnx_logits(session, pixels, mean, std))
    x = torch.from_numpy(normalise(pixels, mean, std))
    model.eval()
    with torch.no_grad():
        cpu = model(x)
        cuda = model.to("cuda")(x.cuda()).cpu()
    assert torch.allclose(onnx, cpu, atol=1e-4, rtol=1e-4)
    assert torch.allclose(onnx, cuda, atol=5e-2, rtol=1e-2)
    assert (onnx.argmax(1) == cuda.argmax(1)).float().mean() >= 0.998


def test_bench_torch_cuda_rows_agree_with_the_cpu(cuda_run, tmp_path, monkeypatch):
    # the artifacts folder that holds the run: bench reads a run folder named in metadata only there
    monkeypatch.setenv("ZOO_ARTIFACTS", str(Path(cuda_run).parents[2]))
    folder = tmp_path / "models" / "fashion-cnn-fast" / "t0"
    export_run(cuda_run, ExportOptions(out=folder))
    options = BenchOptions(runtimes=["torch-cpu", "torch-cuda", "onnxruntime"], variants=("fp32",), **QUICK)
    report = run_bench(str(folder), options)
    rows = {r.runtime: r for r in report.results}
    assert set(rows) == {"torch-cpu", "torch-cuda", "onnxruntime"}
    cuda = rows["torch-cuda"]
    assert cuda.available and cuda.agreement_with_torch_cpu >= 0.998
    assert abs(cuda.accuracy - rows["torch-cpu"].accuracy) <= 0.002
    for lat in cuda.latency:
        assert 0 < lat.p50_ms <= lat.p90_ms <= lat.p99_ms and lat.throughput_ips > 0
