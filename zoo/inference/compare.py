"""`zoo compare A B ...`: variants, run directories or exported models side by side, and ONNX files zoo did
not export (zoo.inference.foreign) when told how to feed them, on the same test set: accuracy, per-class
F1, and how
often each model predicts what the first one predicts."""

from dataclasses import asdict, dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.core import paths
from zoo.core.errors import UsageError
from zoo.core.metrics import classification_metrics
from zoo.core.names import discover
from zoo.data.identity import check_run_data
from zoo.data.loading import load_test
from zoo.data.splits import Split
from zoo.export.exported import ExportedModel, check_dataset, is_zoo_export, normalise
from zoo.inference.bench import BenchOptions, Runner, latency, torch_runner
from zoo.inference.foreign import ForeignModel, Preprocessing, open_any
from zoo.models.registry import list_models
from zoo.train.checkpoint import RECORD, WEIGHTS, RunRecord, load_run
from zoo.train.runs import evaluate_run


@dataclass
class Entry:
    label: str
    kind: str  # run | onnx | foreign (an ONNX file zoo did not export)
    model: str
    dataset: str
    accuracy: float
    f1: dict[str, float]
    num_params: int | None
    train_seconds: float | None
    latency_ms: float | None  # batch-1 p50 on the CPU (torch eager for runs, onnxruntime for exports)
    # the share of test images on which it predicts the class the first entry predicts (1.0 for the first)
    agreement: float | None = None


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
        from zoo.weights.store import locate

        return "run", locate(arg).folder
    if path.suffix == ".onnx" and path.is_file():
        return ("onnx" if is_zoo_export(path) else "foreign"), path
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


class _TestSets:
    """The official test set of each dataset, read once however many entries use it."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir
        self._sets: dict[str, Split] = {}

    def __call__(self, dataset: str) -> Split:
        if dataset not in self._sets:
            self._sets[dataset] = load_test(dataset, self.data_dir)
        return self._sets[dataset]


def _measured(
    kind: str,
    path: Path,
    test_sets: _TestSets,
    measure_latency: bool,
    foreign: Preprocessing | None,
    predict: bool = True,
) -> tuple[Entry, np.ndarray | None]:
    """An entry and its test-set predictions for a run directory or an ONNX file; a run with recorded
    test figures is evaluated only when `predict` asks for its predictions."""
    options = BenchOptions(warmup=20, iters=200, min_seconds=0.3)
    if kind == "run":
        model, record = load_run(path)
        check_run_data(record, path)  # before any work: another dataset under the run's name is refused
        # the figures recorded at training time when there are some (what `zoo train` printed)
        metrics, predictions = record.test_metrics, None
        if metrics is None or predict:  # a tuning trial has none: evaluate once on the test set
            evaluation = evaluate_run(model, record, test=test_sets(record.dataset))
            metrics, predictions = metrics or evaluation.metrics, evaluation.predictions.numpy()
        lat = None
        if measure_latency:
            runner = torch_runner({"run_dir": str(path)}, "torch-cpu", torch.get_num_threads())
            lat = latency(runner, np.zeros((1, *record.input_shape), np.float32), options).p50_ms
        entry = _entry(kind, path.name, record, metrics, lat, train_seconds=record.train_seconds)
        return entry, predictions
    # the contract (or the user's description), checked before any data is loaded
    opened = open_any(path, foreign if kind == "foreign" else None, threads=2, sequential=True)
    meta = opened.metadata
    if isinstance(opened, ExportedModel):
        check_dataset(meta, path)
    test = test_sets(meta["dataset"])
    pixels = test.images.numpy()
    logits = opened.logits(pixels)
    metrics = classification_metrics(torch.from_numpy(logits), test.labels, meta["class_names"])
    lat = None
    if measure_latency:
        runner = Runner("onnxruntime", "fp32", "CPUExecutionProvider", 2, 0.0, opened.run)
        lat = latency(runner, _first_image(opened, pixels), options).p50_ms
    entry = _entry(kind, path.parent.name, meta, metrics, lat)
    if isinstance(opened, ForeignModel):
        entry.label = opened.feed.label
    return entry, logits.argmax(1)


def _first_image(model: ExportedModel | ForeignModel, pixels: np.ndarray) -> np.ndarray:
    """The batch-1 input the latency is timed on, as the model's `run` takes it."""
    if isinstance(model, ForeignModel):
        return model.feed.batch(pixels[:1])
    return normalise(pixels[:1], model.metadata["mean"], model.metadata["std"])


def entry(
    arg: str,
    *,
    data_dir: str | None = None,
    measure_latency: bool = True,
    pretrained: bool = False,
    foreign: Preprocessing | None = None,
) -> Entry:
    """One model's entry; `foreign` says how to feed it when it is an ONNX file zoo did not export."""
    kind, path = _kind(arg, pretrained)
    return _measured(kind, path, _TestSets(data_dir), measure_latency, foreign, predict=False)[0]


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
    args: list[str],
    *,
    data_dir: str | None = None,
    measure_latency: bool = True,
    pretrained: bool = False,
    foreign: Preprocessing | None = None,
) -> dict[str, Any]:
    """`pretrained`: a variant's name stands for its shipped weights, not its latest run here. `foreign`
    says how to feed the ONNX files among `args` that zoo did not export (each the same way)."""
    if len(args) < 2:
        raise UsageError("compare needs at least two things to compare")
    kinds = [_kind(a, pretrained) for a in args]  # every argument resolved before any is evaluated
    if foreign is not None and not any(kind == "foreign" for kind, _ in kinds):
        raise UsageError(
            "--dataset, --mean, --std and the other feeding options describe an .onnx file zoo did not "
            f"export, and none of {', '.join(args)} is one (a zoo export's metadata says how to feed it)"
        )
    test_sets = _TestSets(data_dir)
    # Agreement needs every model's predictions: an ONNX file's are measured anyway, a run's cost an
    # evaluation (and the dataset), which a comparison of runs alone does without, using recorded figures.
    predict = any(kind != "run" for kind, _ in kinds)
    measured = [_measured(kind, path, test_sets, measure_latency, foreign, predict) for kind, path in kinds]
    entries = [e for e, _ in measured]
    datasets = {e.dataset for e in entries}
    if len(datasets) > 1:
        raise UsageError(
            f"these models are for different datasets ({', '.join(sorted(datasets))}); "
            "compare models of one dataset"
        )
    _same_classes(entries)
    first = measured[0][1]
    for e, predictions in measured:
        if first is not None and predictions is not None and len(first):
            e.agreement = float((predictions == first).mean())
    classes = list(entries[0].f1)
    spread = {c: max(e.f1[c] for e in entries) - min(e.f1[c] for e in entries) for c in classes}
    return {
        "entries": [asdict(e) for e in entries],
        "f1_difference": spread,  # best minus worst F1 per class across the entries
        "most_different": sorted(classes, key=lambda c: -spread[c])[:3],
    }
