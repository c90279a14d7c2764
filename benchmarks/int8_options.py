"""Every int8 option side by side on one exported model: which one pays, in which runtime.

    .venv/bin/python benchmarks/int8_options.py EXPORT_FOLDER [--threads N] [--rounds 3] [--min-seconds 1]

Builds each recipe of zoo/export/quantize.py (onnxruntime QDQ/QOperator, per-channel/per-tensor, S8S8/U8S8,
and
NNCF's QDQ) from the folder's model.onnx with the same calibration images (training split), plus NNCF on
OpenVINO's own model format, then runs each file in onnxruntime and OpenVINO next to the fp32 baselines
(onnxruntime fp32, OpenVINO f32 and bf16). Rounds interleave every configuration, so drift of a noisy
machine hits them alike; the table quotes the median over rounds, test accuracy on the 10,000 test images
and argmax agreement with onnxruntime fp32. --out keeps the JSON.
"""

import argparse
import json
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.core import openvino as openvino_backend
from zoo.data import Normalizer, load
from zoo.export.exported import VARIANT_FILES, chunked_logits, read_metadata
from zoo.export.quantize import RECIPES, build, calibration_images
from zoo.inference.bench import BenchError, BenchOptions, latency, onnx_runner, openvino_runner


def nncf_openvino_ir(src: Path, dst: Path, calibration: np.ndarray) -> None:
    """NNCF on OpenVINO's own model (not ONNX): what the issue measured as OpenVINO int8."""
    ov = openvino_backend.import_openvino()
    import nncf

    model = ov.Core().read_model(str(src))
    dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(model, dataset, subset_size=len(calibration))
    ov.save_model(quantized, str(dst))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("export", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--calibration", type=int, default=512)
    parser.add_argument("--batch-sizes", default="1,256")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    fp32 = args.export / VARIANT_FILES["fp32"]
    meta = read_metadata(fp32)
    data = load(meta["dataset"])
    normalize = Normalizer(meta["mean"], meta["std"])
    calibration = calibration_images(normalize(data.train.images).numpy(), args.calibration)
    pixels = data.test.images.numpy()
    x = normalize(data.test.images).numpy()
    labels = data.test.labels.numpy()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    options = BenchOptions(warmup=20, iters=50, min_seconds=args.min_seconds)

    work = Path(tempfile.mkdtemp(prefix="int8-options-"))
    files = {"fp32": fp32}
    for recipe in RECIPES.values():
        files[recipe.name] = work / f"{recipe.name}.onnx"
        build(recipe, fp32, files[recipe.name], calibration, work)
        print(f"built {recipe.name}", file=sys.stderr, flush=True)
    nncf_openvino_ir(fp32, work / "nncf-ov.xml", calibration)

    configs = [
        ("onnxruntime", name, path, "int8" if name != "fp32" else "fp32") for name, path in files.items()
    ]
    configs += [("openvino", "fp32", fp32, "fp32"), ("openvino", "fp32 (bf16 precision)", fp32, "bf16")]
    configs += [("openvino", name, path, "int8") for name, path in files.items() if name != "fp32"]
    configs.append(("openvino", "nncf on OpenVINO IR", work / "nncf-ov.xml", "int8"))

    runners, rows, reference = {}, {}, None
    for runtime, name, path, precision in configs:
        key = f"{runtime} | {name}"
        try:
            if runtime == "openvino":
                runner = openvino_runner(path, precision, args.threads)
            else:
                runner = onnx_runner(path, runtime, precision, args.threads)
            predictions = chunked_logits(runner.run, pixels, meta["mean"], meta["std"]).argmax(1)
        except (BenchError, Exception) as exc:  # a format a runtime cannot run is a result too
            rows[key] = {"runtime": runtime, "model": name, "error": str(exc).splitlines()[0][:160]}
            print(f"{key}: {rows[key]['error']}", file=sys.stderr, flush=True)
            continue
        if reference is None:
            reference = predictions
        runners[key] = runner
        rows[key] = {
            "runtime": runtime,
            "model": name,
            "accuracy": float((predictions == labels).mean()),
            "agreement": float((predictions == reference).mean()),
            "timings": {b: [] for b in batch_sizes},
        }
    for round_ in range(args.rounds):
        for key, runner in runners.items():
            for b in batch_sizes:
                rows[key]["timings"][b].append(latency(runner, x[np.arange(b) % len(x)], options))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    base = rows["onnxruntime | fp32"]
    for row in rows.values():
        for b, runs in row.get("timings", {}).items():
            row[f"p50_us_{b}"] = statistics.median(r.p50_ms for r in runs) * 1e3
            row[f"ips_{b}"] = statistics.median(r.throughput_ips for r in runs)
    top = max(batch_sizes)
    print(
        "| runtime | model | accuracy | agreement | "
        + " | ".join(f"batch {b} p50 µs" for b in batch_sizes)
        + f" | batch {top} images/s | vs onnxruntime fp32 |"
    )
    print("| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in batch_sizes) + " | ---: | ---: |")
    for row in rows.values():
        if "error" in row:
            print(
                f"| {row['runtime']} | {row['model']} | cannot run: {row['error']} |"
                + " |" * (len(batch_sizes) + 3)
            )
            continue
        p50s = " | ".join(f"{row[f'p50_us_{b}']:,.0f}" for b in batch_sizes)
        print(
            f"| {row['runtime']} | {row['model']} | {row['accuracy']:.2%} | {row['agreement']:.2%} | "
            f"{p50s} | {row[f'ips_{top}']:,.0f} | {row[f'ips_{top}'] / base[f'ips_{top}']:.2f}x |"
        )
    if args.out:
        for row in rows.values():
            row.pop("timings", None)
        args.out.write_text(
            json.dumps({"export": str(args.export), "threads": args.threads, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
