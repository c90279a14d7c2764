"""Latency and throughput of an exported `fashion-cnn` across runtimes, thread settings side by side,
and torch.compile against eager PyTorch.

    .venv/bin/python benchmarks/bench_runtimes.py EXPORT_DIR [--out FILE]

EXPORT_DIR is a `zoo export` folder (model.onnx, run_dir in its metadata). Everything below runs in this one
process, one configuration after the other, so the ratios are measured side by side.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.data import Normalizer, load
from zoo.inference.bench import BenchOptions, Runner, find_models, latency, onnx_runner, torch_runner

BATCHES = (1, 32, 256)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = find_models(str(args.export_dir / "model.onnx"), ("fp32", "int8"))[0][0]
    data = load(model.metadata["dataset"])
    x = Normalizer(model.metadata["mean"], model.metadata["std"])(data.test.images).numpy()
    options = BenchOptions(warmup=50, iters=300, min_seconds=args.min_seconds)
    rows = []

    def measure(label: str, runner: Runner) -> None:
        for b in BATCHES:
            stats = latency(runner, np.ascontiguousarray(x[:b]), options)
            rows.append({"config": label, **stats.model_dump()})
            print(
                f"{label:34s} batch {b:>3}: p50 {stats.p50_ms * 1e3:9.1f} µs  "
                f"p99 {stats.p99_ms * 1e3:9.1f} µs"
                f"  {stats.throughput_ips:10,.0f} images/s",
                flush=True,
            )

    for threads in (1, 2):
        measure(
            f"onnxruntime fp32, {threads} thread(s)",
            onnx_runner(model.variants["fp32"], "onnxruntime", "fp32", threads),
        )
    if "int8" in model.variants:
        measure("onnxruntime int8, 2 threads", onnx_runner(model.variants["int8"], "onnxruntime", "int8", 2))
    for threads in (1, 2):
        measure(f"torch-cpu eager, {threads} thread(s)", torch_runner(model.metadata, "torch-cpu", threads))
    from zoo.train.checkpoint import load_run

    net, _ = load_run(model.metadata["run_dir"])
    started = time.perf_counter()
    compiled = torch.compile(net.eval())
    with torch.inference_mode():
        for b in BATCHES:  # compile once per input shape before timing
            compiled(torch.from_numpy(x[:b]))
    compile_seconds = time.perf_counter() - started
    print(f"torch.compile: {compile_seconds:.1f} s to compile the three batch shapes")

    @torch.inference_mode()
    def run_compiled(batch: np.ndarray) -> np.ndarray:
        return compiled(torch.from_numpy(batch)).numpy()

    measure("torch-cpu torch.compile, 2 threads", Runner("torch-cpu", "fp32", "cpu", 2, 0.0, run_compiled))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "compile_seconds": compile_seconds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
