"""`zoo bench`: accuracy and latency of exported models across runtimes.

Runtimes: onnxruntime (CPU EP), onnxruntime-cuda (CUDA EP), openvino (CPU, the optional extra; it runs
each ONNX file and, as the `bf16` variant, model.onnx at bf16 inference precision), torch-cpu, torch-cuda
(eager PyTorch, rebuilt from the run directory the ONNX metadata points to, read only inside the
artifacts folder or zoo's weights folders and once its weights' sha256 matches the export's, and with
the export's test-time augmentation: a `--tta` graph averages each image with its mirror, so its torch
rows do too, and agreement and speed-ups compare the same function).
Nothing is trusted: a file that does not load, is not listed in the folder's SHA256SUMS or belongs to
other weights becomes a row marked unavailable with the reason, and everything else is still measured.

An ONNX file zoo did not export (zoo.inference.foreign) is benched when its user says how to feed it
(`BenchOptions.foreign`): onnxruntime and OpenVINO rows of the file as it is (fp32), torch rows unavailable
(there are no PyTorch weights), and only batch 1 timed when its batch axis is static.

Latency follows the common tools: the first call is reported apart, then warm-up, then timed calls
(at least `iters` and `min_seconds`), p50/p90/p99, mean, stdev and throughput; the thread count and
execution provider are recorded with every figure.
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

from zoo.core import memory, paths
from zoo.core import openvino as openvino_backend
from zoo.core.errors import CheckpointError, UntrustedPath, UsageError, ZooError, first_line
from zoo.core.fileio import check_writable, sha256_file, write_bytes_atomic, write_text_atomic
from zoo.core.metrics import classification_metrics
from zoo.core.names import discover, folder_from, inside
from zoo.data.folders import is_folder_dataset
from zoo.data.identity import check_same_data
from zoo.data.loading import load_test
from zoo.data.splits import Split
from zoo.export.exported import (
    VARIANT_FILES,
    ExportedModelError,
    check_dataset,
    check_logits,
    chunked_logits,
    flip_averaged,
    normalise,
    open_model,
    open_session,
    read_sums,
)
from zoo.inference.bench_results import (
    RESULTS,
    BenchResults,
    Latency,
    Machine,
    Measured,
    Options,
    Row,
    Unavailable,
    results_json,
    write_results,
)
from zoo.inference.foreign import KIND, ForeignFeed, Preprocessing, inspect, open_any
from zoo.inference.noise import NoiseMonitor, assess
from zoo.models.layers import FlipAveraged
from zoo.models.registry import list_models
from zoo.train.checkpoint import load_run

RUNTIMES = ("onnxruntime", "onnxruntime-cuda", "openvino", "torch-cpu", "torch-cuda")
# Precisions a runtime derives from model.onnx itself rather than from a file of their own.
DERIVED_VARIANTS = {"bf16": ("openvino",)}
VARIANTS = (*VARIANT_FILES, *DERIVED_VARIANTS)
THREADS_PER_CORE = 4  # max_threads()


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
    variants: tuple[str, ...] = VARIANTS
    data_dir: str | None = None
    # how to feed a target ONNX file zoo did not export (zoo.inference.foreign); None: targets are zoo exports
    foreign: Preprocessing | None = None


def default_threads() -> int:
    # Measured on 2 cores (benchmarks/RESULTS.md): a second thread costs ~7 µs at batch 1 (41 -> 48 µs)
    # but doubles batch-256 throughput and tightens p99, so use every core the process may run on.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most intra-op threads `--threads` takes: THREADS_PER_CORE per core the process may run on.
    Past the cores, threads only contend for them (a figure measured so is the scheduler's, not the
    runtime's), yet twice or four times the cores is a setting worth measuring, as a deployment that
    shares its cores would run it; thousands of threads took minutes to start and measured nothing."""
    return THREADS_PER_CORE * default_threads()


def availability(runtime: str) -> tuple[bool, str]:
    """(available, reason when not)."""
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}; choose from: {', '.join(RUNTIMES)}, all")
    if runtime == "openvino":
        return openvino_backend.availability()
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
    # variants found beside model.onnx that cannot be trusted: {variant: reason}
    rejected: dict[str, str] = field(default_factory=dict)
    # a file zoo did not export, and how to feed it; None: a zoo export, fed as its metadata says
    feed: ForeignFeed | None = None

    @property
    def label(self) -> str:
        if self.feed is not None:
            return self.feed.label
        return f"{self.metadata['model']}/{self.path.parent.name}"

    def row(self, runtime: str, variant: str) -> dict[str, Any]:
        """What names a row of this export: the model, the folder and the export's identity (a foreign
        file: the file, the sha256 of its bytes and how it was fed)."""
        if self.feed is not None:
            return {
                "model": self.feed.name,
                "export": str(self.path),
                "file_sha256": self.feed.file_sha256,
                "foreign": self.feed.record(),
                "runtime": runtime,
                "variant": variant,
            }
        return {
            "model": self.metadata["model"],
            "export": str(self.path.parent),
            "weights_sha256": self.metadata["weights_sha256"],
            "tta": flip_averaged(self.metadata),
            "runtime": runtime,
            "variant": variant,
        }


def _read(path: Path) -> dict[str, Any]:
    """The metadata of a file that passed the whole contract (metadata, graph, limits) and fits the test
    set it will run on; the session is not kept: each runtime opens the file its own way."""
    try:
        meta = open_any(path, None).metadata  # the contract; a file without zoo metadata hears of --dataset
        check_dataset(meta, path)
    except ExportedModelError as exc:
        raise BenchError(str(exc)) from None
    return meta


def _check_variant(path: Path, fp32: dict[str, Any], sums: dict[str, str]) -> None:
    """A variant must be listed in SHA256SUMS with its content and come from the fp32 model's weights."""
    if sums:
        if path.name not in sums:
            raise BenchError(f"{path.name} is not listed in SHA256SUMS: a leftover of another export")
        if sha256_file(path) != sums[path.name]:
            raise BenchError(f"{path.name} does not match its SHA256SUMS entry: the file was changed")
    meta = _read(path)
    if meta["weights_sha256"] != fp32["weights_sha256"]:
        raise BenchError(f"{path.name} was exported from other weights than {VARIANT_FILES['fp32']}")


def _files(target: str | None) -> list[Path]:
    root = paths.artifacts_dir() / "models"
    if target is None:
        files = discover(root, VARIANT_FILES["fp32"])
        if not files:
            raise BenchError(f"no exported models under {root}; run `zoo export best` first")
        return files
    path = Path(target)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = discover(path, VARIANT_FILES["fp32"])
        if not files:
            raise BenchError(f"no model.onnx under {path}; run `zoo export` first")
        return files
    if target not in list_models():
        raise UsageError(f"{target} is not an .onnx file, a folder or a registered model")
    files = discover(root / target, VARIANT_FILES["fp32"])
    if not files:
        raise BenchError(f"no exported {target} under {root}; run `zoo export {target}` first")
    return files


def foreign_model(target: str | None, variants: tuple[str, ...], prep: Preprocessing) -> BenchModel:
    """The one file zoo did not export that TARGET names, checked as its user described it; only as it is
    (fp32): zoo made no int8 or fp16 copy of it, and OpenVINO's bf16 is offered for zoo's exports only."""
    if target is None or not Path(target).is_file():
        raise UsageError(
            f"--dataset, --mean, --std and the other feeding options describe one .onnx file zoo did not "
            f"export; pass its path (got {target or 'no target'})"
        )
    if "fp32" not in variants:
        raise UsageError(f"a {KIND} file is benchmarked as it is: --variants must include fp32")
    path = Path(target)
    feed = inspect(path, prep)
    return BenchModel(path, feed.metadata, {"fp32": path}, feed=feed)


def find_models(
    target: str | None, variants: tuple[str, ...], foreign: Preprocessing | None = None
) -> tuple[list[BenchModel], list[Unavailable]]:
    """The exports TARGET names, and one unavailable row for each export that cannot be read.

    When nothing at all can be read, the first reason is raised instead. With `foreign`, TARGET is one
    ONNX file zoo did not export, fed as described."""
    if foreign is not None:
        return [foreign_model(target, variants, foreign)], []
    models, broken = [], []
    for f in _files(target):
        try:
            meta = _read(f)
        except BenchError as exc:
            broken.append(
                Unavailable(
                    model="?",
                    export=str(f.parent),
                    runtime="-",
                    variant="fp32",
                    available=False,
                    reason=str(exc),
                )
            )
            continue
        sums = read_sums(f.parent) if f.name == VARIANT_FILES["fp32"] else {}
        found, rejected = {"fp32": f}, {}
        for v, name in VARIANT_FILES.items():
            if v == "fp32" or v not in variants or not (f.parent / name).is_file():
                continue
            try:
                _check_variant(f.parent / name, meta, sums)
                found[v] = f.parent / name
            except BenchError as exc:
                rejected[v] = str(exc)
        if "fp32" not in variants and len(found) > 1:
            del found["fp32"]
        models.append(BenchModel(f, meta, found, rejected))
    if not models:
        raise BenchError(broken[0].reason)
    return models, broken


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
    settings: dict[str, Any] = field(default_factory=dict)  # what else decides its speed (hints, streams)


def onnx_runner(path: Path, runtime: str, variant: str, threads: int) -> Runner:
    provider = "CUDAExecutionProvider" if runtime == "onnxruntime-cuda" else "CPUExecutionProvider"
    started = time.perf_counter()
    try:
        model = open_model(path, providers=[provider], threads=threads, sequential=True)
    except ExportedModelError as exc:
        raise BenchError(str(exc)) from None
    load = time.perf_counter() - started
    return Runner(runtime, variant, model.session.get_providers()[0], threads, load, model.run)


def openvino_runner(path: Path, variant: str, threads: int) -> Runner:
    try:
        compiled = openvino_backend.CompiledModel(path, variant, threads)
    except openvino_backend.OpenVINOUnavailable as exc:
        raise BenchError(str(exc)) from None
    device = f"CPU ({compiled.precision})"
    return Runner(
        "openvino",
        variant,
        device,
        compiled.threads,
        compiled.load_seconds,
        compiled,
        settings=compiled.settings,
    )


def foreign_onnx_runner(feed: ForeignFeed, runtime: str, threads: int) -> Runner:
    """onnxruntime on a foreign file: its run takes batches in the graph's layout (ForeignFeed.batch)."""
    provider = "CUDAExecutionProvider" if runtime == "onnxruntime-cuda" else "CPUExecutionProvider"
    started = time.perf_counter()
    try:
        session = open_session(feed.path, providers=[provider], threads=threads, sequential=True)
    except ExportedModelError as exc:
        raise BenchError(str(exc)) from None
    load = time.perf_counter() - started

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([feed.output_name], {feed.input_name: x})[0]

    return Runner(runtime, "fp32", session.get_providers()[0], threads, load, run)


def make_runner(model: "BenchModel", runtime: str, variant: str, threads: int) -> Runner:
    if runtime.startswith("torch"):
        if model.feed is not None:
            raise BenchError(f"no PyTorch weights: {model.path.name} is not a zoo export ({KIND})")
        return torch_runner({**model.metadata, "run_dir": str(trusted_run_dir(model))}, runtime, threads)
    if model.feed is not None and runtime != "openvino":
        return foreign_onnx_runner(model.feed, runtime, threads)
    path = model.path if variant in DERIVED_VARIANTS else model.variants[variant]
    if runtime == "openvino":
        return openvino_runner(path, variant, threads)
    return onnx_runner(path, runtime, variant, threads)


def trusted_run_dir(model: "BenchModel") -> Path:
    """The run folder an export's metadata names, read like any path from a file (zoo.core.names.folder_from):
    only inside the artifacts folder or zoo's own weights folders (the run of `export --pretrained`),
    else UntrustedPath; the weights' sha256 is checked after loading (torch_runner)."""
    from zoo.weights import store as pretrained  # not at import time: `zoo bench` of ONNX rows never needs it

    run_dir = model.metadata.get("run_dir")
    if not run_dir:
        raise BenchError("this export names no PyTorch checkpoint (run_dir); torch runtimes need it")
    roots = [
        (paths.artifacts_dir(), "the artifacts folder"),
        (pretrained.home() / "weights", "the weights cache"),
        (pretrained.PACKAGE_DIR, "zoo's shipped weights"),
    ]
    return folder_from(run_dir, f"{model.path} metadata run_dir", roots)


def torch_runner(metadata: dict[str, Any], runtime: str, threads: int) -> Runner:
    """Eager PyTorch from the export's run directory; refused unless its weights are the export's.

    It computes what the export's graph computes: the mean of each image's and its mirror's logits when
    the export was made with `--tta`, else one pass."""
    run_dir = metadata.get("run_dir")
    if not run_dir or not Path(run_dir).is_dir():
        raise BenchError(f"the PyTorch checkpoint {run_dir} of this export is gone; torch runtimes need it")
    device = torch.device("cuda" if runtime == "torch-cuda" else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(threads)
    started = time.perf_counter()
    try:
        model, record = load_run(run_dir)
    except CheckpointError as exc:
        raise BenchError(f"the PyTorch checkpoint cannot be loaded: {exc}") from None
    if "weights_sha256" in metadata and record.weights_sha256 != metadata["weights_sha256"]:
        raise BenchError(
            f"the run directory {run_dir} holds other weights than this export (sha256 differs); "
            "torch rows would measure an unrelated model"
        )
    if flip_averaged(metadata):
        model = FlipAveraged(model)
    model = model.eval().to(device)
    load = time.perf_counter() - started
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        out = model(torch.from_numpy(x).to(device, non_blocking=True))
        return out.float().cpu().numpy()  # .cpu() synchronises CUDA

    return Runner(runtime, "fp32", str(device), threads if device.type == "cpu" else 0, load, run, sync)


# ---------------------------------------------------------------------------------------- measuring


def latency(runner: Runner, batch: np.ndarray, options: BenchOptions) -> Latency:
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
    return Latency(
        batch_size=len(batch),
        first_call_ms=first * 1e3,
        iterations=len(times),
        p50_ms=float(np.percentile(ms, 50)),
        p90_ms=float(np.percentile(ms, 90)),
        p99_ms=float(np.percentile(ms, 99)),
        mean_ms=mean,
        stdev_ms=float(statistics.stdev(ms)) if len(ms) > 1 else 0.0,
        block_cv=block_cv(ms),
        throughput_ips=len(batch) / (mean / 1e3),
    )


def block_cv(ms: np.ndarray, blocks: int = 10) -> float:
    """Coefficient of variation of the means of `blocks` consecutive runs of calls, as pyperf compares
    its runs: it shows drift over the measurement (another process starting, a clock changing), which is
    what makes a figure untrustworthy, while the jitter of single sub-millisecond calls averages out."""
    if len(ms) < blocks:
        return 0.0
    means = [float(chunk.mean()) for chunk in np.array_split(ms, blocks)]
    return statistics.stdev(means) / statistics.fmean(means)


def bench_model(
    model: BenchModel,
    runtimes: list[str],
    options: BenchOptions,
    test: Split,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    meta, feed = model.metadata, model.feed
    pixels = test.images.numpy()
    mean, std = meta["mean"], meta["std"]
    labels = test.labels
    threads = options.threads or default_threads()
    # a static batch axis takes one image per call: larger batches would time a Python loop
    batch_sizes = (1,) if feed is not None and feed.static_batch else options.batch_sizes
    plan: list[tuple[str, str]] = []
    for runtime in runtimes:
        if runtime.startswith("torch"):
            plan.append((runtime, "fp32"))
            continue
        plan += [(runtime, v) for v in [*model.variants, *model.rejected]]
        plan += [
            (runtime, v)
            for v, where in DERIVED_VARIANTS.items()
            if v in options.variants and runtime in where and feed is None
        ]
    results: list[Row] = []
    reference = None
    for runtime, variant in sorted(plan, key=lambda p: (p[0] != "torch-cpu", p[0], p[1])):
        if progress:
            progress(f"{model.label}: {runtime} {variant}")
        names = model.row(runtime, variant)
        if variant in model.rejected and not runtime.startswith("torch"):
            results.append(Unavailable(**names, available=False, reason=model.rejected[variant]))
            continue
        try:
            runner = make_runner(model, runtime, variant, threads)
            if feed is not None:
                logits = feed.logits(runner.run, pixels)
            else:
                logits = chunked_logits(runner.run, pixels, mean, std)
                check_logits(logits, len(meta["class_names"]), model.variants.get(variant, model.path))
        except (BenchError, ExportedModelError, UntrustedPath) as exc:
            results.append(Unavailable(**names, available=False, reason=str(exc)))
            continue
        except Exception as exc:  # a graph that loads but fails to run: ORT raises pybind types
            what = VARIANT_FILES.get(variant, VARIANT_FILES["fp32"])
            reason = f"{what} failed to run on {runtime} ({first_line(exc)})"
            results.append(Unavailable(**names, available=False, reason=reason))
            continue
        metrics = classification_metrics(torch.from_numpy(logits), labels, meta["class_names"])
        predictions = logits.argmax(1)
        if reference is None and runtime == "torch-cpu":
            reference = predictions
        results.append(
            Measured(
                **names,
                available=True,
                provider=runner.provider,
                threads=runner.threads,
                **runner.settings,
                load_seconds=runner.load_seconds,
                accuracy=metrics["accuracy"],
                log_loss=metrics["log_loss"],
                metrics=metrics,
                agreement_with_torch_cpu=float((predictions == reference).mean())
                if reference is not None
                else None,
                latency=[
                    latency(runner, _latency_batch(model, pixels[np.arange(b) % len(pixels)]), options)
                    for b in batch_sizes
                ],
            )
        )
    return results


def _latency_batch(model: BenchModel, pixels: np.ndarray) -> np.ndarray:
    """What the timed calls take: normalised pixels (a foreign file's also resized and in its layout)."""
    if model.feed is not None:
        return model.feed.batch(pixels)
    return normalise(pixels, model.metadata["mean"], model.metadata["std"])


def run_bench(
    target: str | None, options: BenchOptions, progress: Callable[[str], None] | None = None
) -> BenchResults:
    for b in options.batch_sizes:
        if b < 1:
            raise UsageError(f"batch sizes must be positive, got {b}")
    bad = set(options.variants) - set(VARIANTS)
    if bad:
        raise UsageError(f"unknown variant(s) {', '.join(sorted(bad))}; choose from {', '.join(VARIANTS)}")
    if options.warmup < 0 or options.iters < 1 or options.min_seconds < 0:
        raise UsageError("--warmup must be ≥ 0, --iters ≥ 1 and --min-seconds ≥ 0")
    if options.threads is not None and not 1 <= options.threads <= max_threads():
        raise UsageError(
            f"--threads {options.threads} is out of range: 1 to {max_threads()} here ({default_threads()} "
            f"usable cores, at most {THREADS_PER_CORE} threads each); leave it out to use every core"
        )
    runtimes, unavailable = select_runtimes(options.runtimes)
    models, broken = find_models(target, tuple(options.variants), options.foreign)
    check_memory(models, options.batch_sizes)
    for model in models:
        # a zoo export of a folder dataset: the dataset under its name must still be its dataset (a
        # built-in one is the official files, checked against their published digests when read)
        if model.feed is None and is_folder_dataset(model.metadata["dataset"]):
            meta = model.metadata
            images = meta.get("data_tensors_sha256")  # exports of zoo before it record none
            who = f"export {model.path}"
            check_same_data(who, meta["dataset"], meta["class_names"], meta["input_shape"], images)
    # the test split only: bench never splits or reads the training images it does not use
    cache: dict[str, Split] = {}
    results: list[Row] = list(broken)
    with NoiseMonitor() as monitor:
        for model in models:
            dataset = model.metadata["dataset"]
            if dataset not in cache:
                cache[dataset] = load_test(dataset, data_dir=options.data_dir)
            results += bench_model(model, runtimes, options, cache[dataset], progress)
    measured = [r for r in results if isinstance(r, Measured)]
    _add_speedups(measured)
    noise = assess(monitor, [(r.label, r.latency) for r in measured])
    import onnxruntime as ort

    return BenchResults(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=Machine(
            cores=os.cpu_count(),
            threads=options.threads or default_threads(),
            cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            torch=torch.__version__,
            onnxruntime=ort.__version__,
            **(openvino_backend.versions() if "openvino" in runtimes else {}),
            noise=noise,
        ),
        options=Options(
            batch_sizes=list(options.batch_sizes),
            warmup=options.warmup,
            iters=options.iters,
            min_seconds=options.min_seconds,
            variants=list(options.variants),
        ),
        unavailable=unavailable,
        results=results,
        summary=fastest_lines(measured, options.batch_sizes),
    )


def batch_bytes(metadata: dict[str, Any], batch: int) -> int:
    """Bytes a latency batch takes before the graph runs, with one activation: its int64 image index,
    the uint8 images (1 byte a value), their float32 normalised copy (4) and a first activation of the
    same size (4; the graph's own activations are unknown to zoo), and the float32 logits."""
    values = int(np.prod(metadata["input_shape"]))
    return batch * (8 + values * (1 + 4 + 4) + 4 * len(metadata["class_names"]))


def check_memory(models: list[BenchModel], batch_sizes: tuple[int, ...]) -> None:
    """Before the data is loaded: the largest batch of each export must fit in half the memory available
    (the other half for the data, the runtime and the rest), else one line rather than a MemoryError."""
    if not batch_sizes:
        return
    # cgroup-aware (a container's limit, not the host's MemAvailable); the physical memory where unreadable
    free = memory.available_memory() or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for model in models:
        batch = 1 if model.feed is not None and model.feed.static_batch else max(batch_sizes)
        need = batch_bytes(model.metadata, batch)
        if need > free // 2:
            c, h, w = model.metadata["input_shape"]
            needed, available = memory.format_bytes(need), memory.format_bytes(free)
            raise UsageError(
                f"batch size {batch} of {c}x{h}x{w} images ({model.label}) needs about {needed} of "
                f"memory, more than half the {available} available; use smaller batch sizes"
            )


def fastest_lines(results: list[Measured], batch_sizes: tuple[int, ...]) -> list[str]:
    """One line per export and batch size: the highest-throughput runtime/variant, its accuracy, and its
    ratio to onnxruntime fp32 of the same export (the usual deployment baseline)."""
    lines = []
    for export in dict.fromkeys(r.export for r in results):
        mine = [r for r in results if r.export == export]
        for b in batch_sizes:
            rows = [(r, lat) for r in mine for lat in r.latency if lat.batch_size == b]
            if not rows:  # a static batch axis: only batch 1 was timed
                continue
            best, lat = max(rows, key=lambda row: row[1].throughput_ips)
            base = [x for r, x in rows if r.runtime == "onnxruntime" and r.variant == "fp32"]
            ratio = f", {lat.throughput_ips / base[0].throughput_ips:.2f}x onnxruntime fp32" if base else ""
            lines.append(
                f"batch {b}: fastest {best.shown} {best.runtime} {best.variant}: "
                f"{lat.throughput_ips:,.0f} images/s, p50 {lat.p50_ms * 1e3:,.0f} µs{ratio}, "
                f"accuracy {best.accuracy:.2%}"
            )
    return lines


def _add_speedups(results: list[Measured]) -> None:
    """Throughput of each entry against torch-cpu for the same export and batch size."""
    base = {
        (r.export, lat.batch_size): lat.throughput_ips
        for r in results
        if r.runtime == "torch-cpu"
        for lat in r.latency
    }
    for r in results:
        for lat in r.latency:
            ref = base.get((r.export, lat.batch_size))
            lat.speedup_vs_torch_cpu = lat.throughput_ips / ref if ref else None


def results_dir() -> Path:
    return paths.artifacts_dir() / "bench" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def check_results_folder(out: Path | None) -> None:
    """Before measuring: the results folder can be written (JSON, Markdown and a PNG per row)."""
    check_writable(out or results_dir(), 16 << 20, "the benchmark results")


def save_results(report: BenchResults, out: Path | None = None) -> Path:
    """results.json, results.md and one confusion-matrix PNG per measured entry, into `out` (default
    artifacts/bench/<UTC timestamp>/); each entry names its PNG in `confusion_png`."""
    # Imported here: matplotlib costs start-up time that the commands importing zoo.inference.bench need
    # not pay.
    from zoo.core.plots import confusion_matrix

    folder = out or results_dir()
    results_json(folder / RESULTS, report)  # a figure JSON cannot hold fails before any file is written
    folder.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(report.results):
        if isinstance(r, Measured):
            png = f"confusion-{i:02d}-{r.model}-{r.runtime}-{r.variant}.png"
            title = f"{r.shown} · {r.runtime} · {r.variant}"
            write_bytes_atomic(
                # the name is built from a row's text: checked, so it stays one file in `folder`
                inside(folder, png, what="confusion matrix file"),
                confusion_matrix(r.metrics.confusion_matrix, list(r.metrics.per_class), title),
            )
            r.confusion_png = png
    write_text_atomic(folder / "results.md", markdown(report))
    write_results(folder / RESULTS, report)  # last: a reader that finds it finds the rest
    return folder


def markdown(report: BenchResults) -> str:
    machine = report.machine
    lines = [
        f"# zoo bench {report.created_at}",
        "",
        f"Machine: {machine.cores} cores, threads {machine.threads}, CUDA {machine.cuda or 'none'}; "
        f"torch {machine.torch}, onnxruntime {machine.onnxruntime}.",
        "",
    ]
    for name, reason in report.unavailable.items():
        lines.append(f"- {name}: unavailable ({reason})")
    for warning in machine.noise.warnings:
        lines.append(f"- **warning**: {warning}")
    lines += [f"- {line}" for line in foreign_lines(report)]
    lines += [f"- {line}" for line in report.summary]
    lines += [
        "",
        "| model | runtime | variant | accuracy | agreement | batch | p50 ms | p90 ms | p99 ms | "
        "images/s | vs torch-cpu |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report.results:
        if not isinstance(r, Measured):
            lines.append(f"| {r.shown} | {r.runtime} | {r.variant} | unavailable: {r.reason} |" + " |" * 7)
            continue
        agree = f"{r.agreement_with_torch_cpu:.4f}" if r.agreement_with_torch_cpu is not None else "-"
        for lat in r.latency:
            speed = f"{lat.speedup_vs_torch_cpu:.2f}x" if lat.speedup_vs_torch_cpu else "-"
            lines.append(
                f"| {r.shown} | {r.runtime} | {r.variant} | {r.accuracy:.4f} | {agree} | "
                f"{lat.batch_size} | {lat.p50_ms:.3f} | {lat.p90_ms:.3f} | {lat.p99_ms:.3f} | "
                f"{lat.throughput_ips:,.0f} | {speed} |"
            )
    return "\n".join(lines) + "\n"


def foreign_lines(report: BenchResults) -> list[str]:
    """One line per foreign file of a report: what identifies it and how it was fed, since its figures
    depend on that as much as on the file."""
    lines = []
    foreign = {r.file_sha256: (r, r.foreign) for r in report.results if r.foreign is not None}
    for r, feed in foreign.values():
        c, h, w = feed.input_shape
        batch = "static batch axis: batch 1 only" if feed.static_batch else "dynamic batch axis"
        lines.append(
            f"{r.model} ({KIND}, {Path(r.export).name}, sha256 {(r.file_sha256 or '?')[:12]}…): "
            f"{feed.dataset} test set, input {feed.input_name!r} {c}x{h}x{w} {feed.layout}, "
            f"mean {_numbers(feed.mean)}, std {_numbers(feed.std)}, "
            f"output {feed.output_name!r} ({feed.outputs}), {batch}"
        )
    return lines


def _numbers(values: list[float]) -> str:
    return ",".join(f"{v:g}" for v in values)
