"""`zoo compare A B ...`: variants, run directories or exported models side by side."""

from dataclasses import asdict, dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo import paths
from zoo.bench import BenchOptions, Runner, latency, torch_runner
from zoo.checkpoint import RECORD, WEIGHTS, RunRecord, load_run
from zoo.data import load
from zoo.errors import UsageError
from zoo.exported import check_dataset, normalise, open_model
from zoo.metrics import classification_metrics
from zoo.names import discover
from zoo.registry import list_models
from zoo.runs import evaluate_run


@dataclass
class Entry:
    label: str
    kind: str  # run | onnx
    model: str
    dataset: str
    accuracy: float
    f1: dict[str, float]
    num_params: int | None
    train_seconds: float | None
    latency_ms: float | None  # batch-1 p50 on the CPU (torch eager for runs, onnxruntime for exports)


def _latest_run(model: str) -> Path:
    folder = paths.runs_dir() / model
    runs = sorted(
        (
            p.parent
            for p in discover(folder, RECORD)
            if p.parent.parent == folder and (p.parent / WEIGHTS).is_file()
        ),
        key=lambda p: p.stat().st_mtime,
    )
    if not runs:
        raise UsageError(f"no trained run of {model} under {folder}; run `zoo train {model}` first")
    return runs[-1]


def _kind(arg: str, pretrained: bool = False) -> tuple[str, Path]:
    path = Path(arg)
    if pretrained and arg in list_models() and not path.exists():
        from zoo.pretrained import locate

        return "run", locate(arg).folder
    if path.suffix == ".onnx" and path.is_file():
        return "onnx", path
    if path.is_dir() and (path / "model.onnx").is_file():
        return "onnx", path / "model.onnx"
    if path.is_dir() and (path / RECORD).is_file():
        return "run", path
    if arg in list_models():
        return "run", _latest_run(arg)
    raise UsageError(
        f"{arg} is not a run directory, an exported model (.onnx or its folder) or a trained variant"
    )


def _entry(
    kind: str,
    folder: str,
    source: RunRecord | dict[str, Any],
    metrics: dict[str, Any],
    latency_ms: float | None,
    train_seconds: float | None = None,
) -> Entry:
    """`source` is a run record or an export's metadata: both name the model, dataset and parameters."""
    fields = source.to_dict() if isinstance(source, RunRecord) else source
    return Entry(
        label=f"{fields['model']}:{folder}",
        kind=kind,
        model=fields["model"],
        dataset=fields["dataset"],
        accuracy=metrics["accuracy"],
        f1={k: v["f1"] for k, v in metrics["per_class"].items()},
        num_params=fields.get("num_params"),
        train_seconds=train_seconds,
        latency_ms=latency_ms,
    )


def entry(
    arg: str, *, data_dir: str | None = None, measure_latency: bool = True, pretrained: bool = False
) -> Entry:
    kind, path = _kind(arg, pretrained)
    options = BenchOptions(warmup=20, iters=200, min_seconds=0.3)
    if kind == "run":
        model, record = load_run(path)
        metrics = record.test_metrics
        if metrics is None:  # a tuning trial: evaluate once on the test set
            metrics = evaluate_run(model, record, data_dir=data_dir).metrics
        lat = None
        if measure_latency:
            runner = torch_runner({"run_dir": str(path)}, "torch-cpu", torch.get_num_threads())
            lat = latency(runner, np.zeros((1, *record.input_shape), np.float32), options).p50_ms
        return _entry(kind, path.name, record, metrics, lat, train_seconds=record.train_seconds)
    exported = open_model(path, threads=2, sequential=True)  # the contract, before any data is loaded
    meta = exported.metadata
    check_dataset(meta, path)
    data = load(meta["dataset"], data_dir=data_dir)
    pixels = data.test.images.numpy()
    logits = exported.logits(pixels)
    metrics = classification_metrics(torch.from_numpy(logits), data.test.labels, meta["class_names"])
    lat = None
    if measure_latency:
        runner = Runner("onnxruntime", "fp32", "CPUExecutionProvider", 2, 0.0, exported.run)
        lat = latency(runner, normalise(pixels[:1], meta["mean"], meta["std"]), options).p50_ms
    return _entry(kind, path.parent.name, meta, metrics, lat)


def _same_classes(entries: list[Entry]) -> None:
    """Per-class F1 is compared by class name: every entry must name the same classes."""
    first = list(entries[0].f1)
    for e in entries[1:]:
        if list(e.f1) != first:
            other = next((a, b) for a, b in zip_longest(first, e.f1) if a != b)
            raise UsageError(
                f"{entries[0].label} and {e.label} name their classes differently "
                f"({other[0]!r} against {other[1]!r}); compare models with the same class names"
            )


def compare(
    args: list[str], *, data_dir: str | None = None, measure_latency: bool = True, pretrained: bool = False
) -> dict[str, Any]:
    """`pretrained`: a variant's name stands for its shipped weights, not its latest run here."""
    if len(args) < 2:
        raise UsageError("compare needs at least two things to compare")
    entries = [
        entry(a, data_dir=data_dir, measure_latency=measure_latency, pretrained=pretrained) for a in args
    ]
    datasets = {e.dataset for e in entries}
    if len(datasets) > 1:
        raise UsageError(
            f"these models are for different datasets ({', '.join(sorted(datasets))}); "
            "compare models of one dataset"
        )
    _same_classes(entries)
    classes = list(entries[0].f1)
    spread = {c: max(e.f1[c] for e in entries) - min(e.f1[c] for e in entries) for c in classes}
    return {
        "entries": [asdict(e) for e in entries],
        "f1_difference": spread,  # best minus worst F1 per class across the entries
        "most_different": sorted(classes, key=lambda c: -spread[c])[:3],
    }
