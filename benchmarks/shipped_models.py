"""Every shipped model exported, checked and timed: export's parity gates pass (fp32 and int8), the fp32
file's accuracy by plain onnxruntime from its metadata alone equals the shipped record, and each runtime's
latency at batch 1 and 256 on this machine; writes benchmarks/latency-fashion-mnist.md.

    .venv/bin/python benchmarks/shipped_models.py [--runtimes onnxruntime,openvino,torch-cpu] [NAME ...]

Exits 1 when a model fails a gate or its figure; everything it writes goes to a temporary artifacts folder
but the table.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zoo.core import paths  # noqa: E402
from zoo.data import load_raw  # noqa: E402
from zoo.export.exporter import ExportError, ExportOptions, export_targets  # noqa: E402
from zoo.inference.bench import BenchOptions, run_bench  # noqa: E402
from zoo.train.checkpoint import read_record  # noqa: E402
from zoo.weights.shipped import SHIPPED  # noqa: E402
from zoo.weights.store import locate  # noqa: E402

OUT = ROOT / "benchmarks" / "latency-fashion-mnist.md"


def plain_onnxruntime_correct(onnx_file: Path) -> int:
    """Correct predictions on the official test split from the file alone: its metadata's mean and std."""
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    _, test, _ = load_raw(meta["dataset"], None)
    mean = np.array(meta["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(meta["std"], np.float32).reshape(1, -1, 1, 1)
    correct = 0
    for i in range(0, len(test.labels), 1000):
        x = ((test.images[i : i + 1000].numpy() / np.float32(255) - mean) / std).astype(np.float32)
        logits = session.run(["logits"], {"images": x})[0]
        correct += int((logits.argmax(1) == test.labels[i : i + 1000].numpy()).sum())
    return correct


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Model name")
        ),
        platform.processor(),
    )
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def _rows(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line.startswith("| `")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", default=sorted(SHIPPED))
    parser.add_argument("--runtimes", default="onnxruntime,openvino,torch-cpu")
    args = parser.parse_args()
    paths.set_artifacts_dir(tempfile.mkdtemp(prefix="zoo-shipped-"))
    lines = [
        f"# Shipped models: parity and latency ({datetime.date.today()}, {machine()})",
        "",
        "`.venv/bin/python benchmarks/shipped_models.py`: each shipped model exported (`zoo export NAME "
        "--pretrained --int8`, with `--tta` where the record was measured with test-time flips), its fp32 "
        "file's accuracy by plain onnxruntime from the metadata alone "
        "against the shipped record, then p50 latency (ms) and throughput (images/s) per runtime.",
        "",
        "| model | parity fp32 | int8 drop (points) | onnxruntime correct | record | runtime | variant "
        "| p50 ms @1 | img/s @1 | p50 ms @256 | img/s @256 |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    failed = []
    for name in args.names:
        int8_refused = ""
        # a record measured with test-time flips is matched by the flip-averaged graph (`--tta`)
        tta = bool(read_record(locate(name).folder).train_config.get("test_time_flip"))
        try:
            (outcome,) = export_targets(name, ExportOptions(int8=True, tta=tta), pretrained=True)
        except ExportError as exc:  # the int8 gate: the fp32 and its figures still count
            int8_refused = str(exc).split(",")[0].removeprefix("int8 model ")
            (outcome,) = export_targets(name, ExportOptions(tta=tta), pretrained=True)
        if outcome.error is not None:
            failed.append(f"{name}: {outcome.error}")
            continue
        parity = outcome.result.parity
        onnx_file = outcome.result.folder / "model.onnx"
        correct = plain_onnxruntime_correct(onnx_file)
        if correct != SHIPPED[name].correct or not parity["fp32"]["passed"]:
            failed.append(f"{name}: onnxruntime {correct}, record {SHIPPED[name].correct}")
        options = BenchOptions(
            runtimes=args.runtimes.split(","), batch_sizes=(1, 256), warmup=10, iters=50, min_seconds=0.5
        )
        report = run_bench(str(outcome.result.folder), options)
        for row in report.results:
            if not row.available:
                continue
            at = {lat.batch_size: lat for lat in row.latency}
            gate = "pass" if parity["fp32"]["passed"] else "FAIL"
            int8_text = f"refused: {int8_refused}" if int8_refused else f"{parity['int8']['drop_points']:.2f}"
            lines.append(
                f"| `{name}` | {gate} | {int8_text} | {correct} "
                f"| {SHIPPED[name].correct} | {row.runtime} | {row.variant} | {at[1].p50_ms:.3f} "
                f"| {at[1].throughput_ips:,.0f} | {at[256].p50_ms:.2f} | {at[256].throughput_ips:,.0f} |"
            )
        print(
            f"{name}: parity {parity['fp32']['passed']}, onnxruntime {correct}/{SHIPPED[name].correct}",
            flush=True,
        )
    # rows of models not measured this time stay (a newly shipped model is timed alone), in name order
    kept = [row for row in _rows(OUT) if row.split("`")[1] not in args.names]
    header, rows = lines[:6], lines[6:]
    OUT.write_text("\n".join(header + sorted(kept + rows, key=lambda r: r.split("`")[1])) + "\n")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
