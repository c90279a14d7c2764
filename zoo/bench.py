"""`zoo bench`: accuracy and latency of exported models across runtimes.

Runtimes: onnxruntime (CPU EP), onnxruntime-cuda (CUDA EP), torch-cpu, torch-cuda (eager PyTorch, rebuilt
from the run directory the ONNX metadata points to). Latency follows the common tools: the first call is
reported apart, then warm-up, then timed calls (at least `iters` and `min_seconds`), p50/p90/p99, mean,
stdev and throughput; the thread count and execution provider are recorded with every figure.
"""

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo import paths
from zoo.data import DataSplits, Normalizer, get_dataset_info, load
from zoo.errors import UsageError, ZooError
from zoo.fileio import write_json_atomic, write_text_atomic
from zoo.metrics import classification_metrics
from zoo.predict import open_session

RUNTIMES = ("onnxruntime", "onnxruntime-cuda", "torch-cpu", "torch-cuda")
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
SCHEMA = "zoo.bench/1"


class BenchError(ZooError):
    """A model cannot be benchmarked as asked."""


@dataclass
class BenchOptions:
    runtimes: list[str] = field(default_factory=lambda: ["all"])
    batch_sizes: tuple[int, ...] = (1, 32, 256)
    warmup: int = 10
    iters: int = 100
    min_seconds: float = 1.0
    threads: int | None = None  # default: every core for onnxruntime and torch
    variants: tuple[str, ...] = ("fp32", "int8", "fp16")
    data_dir: str | None = None


def default_threads() -> int:
    # Measured on 2 cores (benchmarks/RESULTS.md): a second thread costs ~7 µs at batch 1 (41 -> 48 µs)
    # but doubles batch-256 throughput and tightens p99, so use every core the process may run on.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def availability(runtime: str) -> tuple[bool, str]:
    """(available, reason when not)."""
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}; choose from: {', '.join(RUNTIMES)}, all")
    if runtime.endswith("cuda") and runtime.startswith("torch"):
        return (True, "") if torch.cuda.is_available() else (False, "no CUDA device visible to PyTorch")
    if runtime == "onnxruntime-cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return False, "this onnxruntime build has no CUDAExecutionProvider (install onnxruntime-gpu)"
        if not torch.cuda.is_available():
            return False, "no CUDA device visible"
    return True, ""


def select_runtimes(asked: list[str]) -> tuple[list[str], dict[str, str]]:
    """`all` -> every available runtime, the others reported with a reason; a named unavailable one is
    an error (exit 2)."""
    names = list(RUNTIMES) if "all" in asked else list(dict.fromkeys(asked))
    chosen, unavailable = [], {}
    for name in names:
        ok, reason = availability(name)
        if ok:
            chosen.append(name)
        elif "all" in asked:
            unavailable[name] = reason
        else:
            raise UsageError(f"runtime {name} is not available here: {reason}")
    return chosen, unavailable


# ------------------------------------------------------------------------------------------ models


@dataclass
class BenchModel:
    path: Path  # the fp32 model.onnx
    metadata: dict[str, Any]
    variants: dict[str, Path]

    @property
    def label(self) -> str:
        return f"{self.metadata['model']}/{self.path.parent.name}"


def _read(path: Path) -> dict[str, Any]:
    from zoo.export import read_metadata

    try:
        meta = read_metadata(path)
    except Exception as exc:  # onnx raises DecodeError and friends for non-ONNX files
        raise BenchError(f"{path} is not a valid ONNX model ({str(exc).splitlines()[0]})") from None
    if meta.get("zoo.format") != "zoo.onnx/1" or not {"dataset", "class_names", "input_shape", "mean"} <= set(
        meta
    ):
        raise BenchError(f"{path} has no zoo metadata; export it with `zoo export` first")
    info = get_dataset_info(meta["dataset"])
    if list(meta["input_shape"]) != list(info.image_shape):
        raise BenchError(
            f"{path} expects inputs {meta['input_shape']} but {info.name} images are "
            f"{list(info.image_shape)}; it was not exported for this dataset"
        )
    return meta


def find_models(target: str | None, variants: tuple[str, ...]) -> list[BenchModel]:
    root = paths.artifacts_dir() / "models"
    if target is None:
        if not root.is_dir() or not any(root.rglob("model.onnx")):
            raise BenchError(f"no exported models under {root}; run `zoo export best` first")
        files = sorted(root.rglob("model.onnx"))
    else:
        path = Path(target)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(path.rglob("model.onnx"))
            if not files:
                raise BenchError(f"no model.onnx under {path}; run `zoo export` first")
        else:
            from zoo.registry import list_models

            if target not in list_models():
                raise UsageError(f"{target} is not an .onnx file, a folder or a registered model")
            files = sorted((root / target).rglob("model.onnx")) if (root / target).is_dir() else []
            if not files:
                raise BenchError(f"no exported {target} under {root}; run `zoo export {target}` first")
    models = []
    for f in files:
        meta = _read(f)
        found = {
            v: f.parent / name
            for v, name in VARIANT_FILES.items()
            if v in variants and (f.parent / name).is_file()
        }
        if "fp32" not in found and "fp32" in variants:
            found["fp32"] = f
        models.append(BenchModel(f, meta, found or {"fp32": f}))
    return models


# ---------------------------------------------------------------------------------------- runners


@dataclass
class Runner:
    runtime: str
    variant: str
    provider: str
    threads: int
    load_seconds: float
    run: Callable[[np.ndarray], np.ndarray]  # normalised float32 NCHW -> logits
    sync: Callable[[], None] = lambda: None


def onnx_runner(path: Path, runtime: str, variant: str, threads: int) -> Runner:
    provider = "CUDAExecutionProvider" if runtime == "onnxruntime-cuda" else "CPUExecutionProvider"
    started = time.perf_counter()
    session = open_session(path, providers=[provider], threads=threads, sequential=True)
    load = time.perf_counter() - started
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]

    return Runner(runtime, variant, session.get_providers()[0], threads, load, run)


def torch_runner(metadata: dict[str, Any], runtime: str, threads: int) -> Runner:
    from zoo.checkpoint import load_run

    run_dir = metadata.get("run_dir")
    if not run_dir or not Path(run_dir).is_dir():
        raise BenchError(f"the PyTorch checkpoint {run_dir} of this export is gone; torch runtimes need it")
    device = torch.device("cuda" if runtime == "torch-cuda" else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(threads)
    started = time.perf_counter()
    model, _ = load_run(run_dir)
    model = model.eval().to(device)
    load = time.perf_counter() - started
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        out = model(torch.from_numpy(x).to(device, non_blocking=True))
        return out.float().cpu().numpy()  # .cpu() synchronises CUDA

    return Runner(runtime, "fp32", str(device), threads if device.type == "cpu" else 0, load, run, sync)


# ---------------------------------------------------------------------------------------- measuring


def latency(runner: Runner, batch: np.ndarray, options: BenchOptions) -> dict[str, Any]:
    runner.sync()
    started = time.perf_counter()
    runner.run(batch)
    runner.sync()
    first = time.perf_counter() - started
    for _ in range(options.warmup):
        runner.run(batch)
    runner.sync()
    times: list[float] = []
    deadline = time.perf_counter() + options.min_seconds
    while len(times) < options.iters or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        runner.run(batch)
        runner.sync()
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    mean = float(ms.mean())
    return {
        "batch_size": len(batch),
        "first_call_ms": first * 1e3,
        "iterations": len(times),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": mean,
        "stdev_ms": float(statistics.stdev(ms)) if len(ms) > 1 else 0.0,
        "throughput_ips": len(batch) / (mean / 1e3),
    }


def predict_all(runner: Runner, x: np.ndarray, chunk: int = 512) -> np.ndarray:
    return np.concatenate([runner.run(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def bench_model(
    model: BenchModel,
    runtimes: list[str],
    options: BenchOptions,
    data: DataSplits,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    meta = model.metadata
    x = Normalizer(meta["mean"], meta["std"])(data.test.images).numpy()
    labels = data.test.labels
    threads = options.threads or default_threads()
    plan: list[tuple[str, str]] = []
    for runtime in runtimes:
        if runtime.startswith("torch"):
            plan.append((runtime, "fp32"))
        else:
            plan += [
                (runtime, v)
                for v in model.variants
                if not (v == "fp16" and runtime == "onnxruntime") or runtime == "onnxruntime"
            ]
    results, reference = [], None
    for runtime, variant in sorted(plan, key=lambda p: (p[0] != "torch-cpu", p[0], p[1])):
        if progress:
            progress(f"{model.label}: {runtime} {variant}")
        entry: dict[str, Any] = {
            "model": meta["model"],
            "export": str(model.path.parent),
            "runtime": runtime,
            "variant": variant,
        }
        try:
            runner = (
                torch_runner(meta, runtime, threads)
                if runtime.startswith("torch")
                else onnx_runner(model.variants[variant], runtime, variant, threads)
            )
        except BenchError as exc:
            entry.update(available=False, reason=str(exc))
            results.append(entry)
            continue
        logits = predict_all(runner, x)
        metrics = classification_metrics(
            torch.from_numpy(logits.astype(np.float32)), labels, meta["class_names"]
        )
        predictions = logits.argmax(1)
        if reference is None and runtime == "torch-cpu":
            reference = predictions
        entry.update(
            available=True,
            provider=runner.provider,
            threads=runner.threads,
            load_seconds=runner.load_seconds,
            accuracy=metrics["accuracy"],
            log_loss=metrics["log_loss"],
            metrics=metrics,
            agreement_with_torch_cpu=float((predictions == reference).mean())
            if reference is not None
            else None,
            latency=[latency(runner, x[np.arange(b) % len(x)], options) for b in options.batch_sizes],
        )
        results.append(entry)
    return results


def run_bench(
    target: str | None, options: BenchOptions, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    for b in options.batch_sizes:
        if b < 1:
            raise UsageError(f"batch sizes must be positive, got {b}")
    bad = set(options.variants) - set(VARIANT_FILES)
    if bad:
        raise UsageError(f"unknown variant(s) {', '.join(sorted(bad))}; choose from fp32, int8, fp16")
    if options.warmup < 0 or options.iters < 1 or options.min_seconds < 0:
        raise UsageError("--warmup must be ≥ 0, --iters ≥ 1 and --min-seconds ≥ 0")
    runtimes, unavailable = select_runtimes(options.runtimes)
    models = find_models(target, tuple(options.variants))
    cache: dict[str, DataSplits] = {}
    results = []
    for model in models:
        dataset = model.metadata["dataset"]
        if dataset not in cache:
            cache[dataset] = load(dataset, data_dir=options.data_dir)
        results += bench_model(model, runtimes, options, cache[dataset], progress)
    _add_speedups(results)
    import onnxruntime as ort

    return {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "threads": options.threads or default_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
        },
        "options": {
            "batch_sizes": list(options.batch_sizes),
            "warmup": options.warmup,
            "iters": options.iters,
            "min_seconds": options.min_seconds,
            "variants": list(options.variants),
        },
        "unavailable": unavailable,
        "results": results,
    }


def _add_speedups(results: list[dict[str, Any]]) -> None:
    """Throughput of each entry against torch-cpu for the same export and batch size."""
    base = {
        (r["export"], lat["batch_size"]): lat["throughput_ips"]
        for r in results
        if r.get("available") and r["runtime"] == "torch-cpu"
        for lat in r["latency"]
    }
    for r in results:
        for lat in r.get("latency", []):
            ref = base.get((r["export"], lat["batch_size"]))
            lat["speedup_vs_torch_cpu"] = lat["throughput_ips"] / ref if ref else None


def save_results(report: dict[str, Any], out: Path | None = None) -> Path:
    folder = out or paths.artifacts_dir() / "bench" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "results.json", report)
    write_text_atomic(folder / "results.md", markdown(report))
    for i, r in enumerate(report["results"]):
        if r.get("available"):
            png = folder / f"confusion-{i:02d}-{r['model']}-{r['runtime']}-{r['variant']}.png"
            confusion_png(
                r["metrics"]["confusion_matrix"],
                r["metrics"]["per_class"].keys(),
                png,
                f"{r['model']} · {r['runtime']} · {r['variant']}",
            )
            r["confusion_png"] = png.name
    write_json_atomic(folder / "results.json", report)
    return folder


def confusion_png(matrix, class_names, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(class_names)
    m = np.array(matrix)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if m[i, j] > m.max() / 2 else "black",
            )
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# zoo bench {report['created_at']}",
        "",
        f"Machine: {report['machine']['cores']} cores, threads {report['machine']['threads']}, "
        f"CUDA {report['machine']['cuda'] or 'none'}; torch {report['machine']['torch']}, "
        f"onnxruntime {report['machine']['onnxruntime']}.",
        "",
    ]
    for name, reason in report["unavailable"].items():
        lines.append(f"- {name}: unavailable ({reason})")
    lines += [
        "",
        "| model | runtime | variant | accuracy | agreement | batch | p50 ms | p90 ms | p99 ms | "
        "images/s | vs torch-cpu |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        if not r.get("available"):
            lines.append(
                f"| {r['model']} | {r['runtime']} | {r['variant']} | unavailable: {r['reason']} |" + " |" * 7
            )
            continue
        agree = f"{r['agreement_with_torch_cpu']:.4f}" if r["agreement_with_torch_cpu"] is not None else "-"
        for lat in r["latency"]:
            speed = f"{lat['speedup_vs_torch_cpu']:.2f}x" if lat["speedup_vs_torch_cpu"] else "-"
            lines.append(
                f"| {r['model']} | {r['runtime']} | {r['variant']} | {r['accuracy']:.4f} | {agree} | "
                f"{lat['batch_size']} | {lat['p50_ms']:.3f} | {lat['p90_ms']:.3f} | {lat['p99_ms']:.3f} | "
                f"{lat['throughput_ips']:,.0f} | {speed} |"
            )
    return "\n".join(lines) + "\n"
