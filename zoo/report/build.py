"""One report per run: gather the run's sections, write the PNGs and report.html into the report folder."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.core import paths
from zoo.core.errors import UsageError
from zoo.core.fileio import check_writable, write_bytes_atomic, write_text_atomic
from zoo.core.names import inside
from zoo.data import Normalizer
from zoo.data.identity import check_run_data
from zoo.export.targets import RunTarget, resolve_targets
from zoo.report import figures
from zoo.report.bench import bench_section
from zoo.report.page import Image, Note, Paragraphs, Section, Table, render
from zoo.report.study import study_section
from zoo.train.checkpoint import RunRecord, load_run, read_record
from zoo.train.runs import TestEvaluation, evaluate_run

EXAMPLES = 16  # correctly and wrongly classified test images shown, each


def _evaluate(model: nn.Module, record: RunRecord, data_dir: str | Path | None) -> TestEvaluation:
    ev = evaluate_run(model, record, data_dir=data_dir)
    # Show the metrics recorded at training time (what `zoo train` printed); tuning trials have none.
    if record.test_metrics:
        ev.metrics = record.test_metrics
    return ev


def _conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def _curves_section(record: RunRecord) -> Section:
    if not record.history:
        return Section("learning-curves", "Learning curves", [Note("The run recorded no epochs.")])
    png = figures.learning_curves(record.history)
    return Section(
        "learning-curves",
        "Learning curves",
        [Image("learning-curves.png", "Loss and accuracy per epoch", png)],
    )


def _confusion_section(cm: Sequence[Sequence[int]], names: list[str]) -> Section:
    png = figures.confusion_matrix(cm, names)
    return Section(
        "confusion", "Confusion matrix", [Image("confusion.png", "Rows: true class, columns: predicted", png)]
    )


def _per_class_section(metrics: dict[str, Any]) -> Section:
    rows = [
        [n, c["precision"], c["recall"], c["f1"], int(c["support"])] for n, c in metrics["per_class"].items()
    ]
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        if key in metrics:
            avg = metrics[key]
            rows.append([label, avg["precision"], avg["recall"], avg["f1"], int(avg["support"])])
    return Section(
        "per-class",
        "Per-class precision, recall and F1",
        [Table(["class", "precision", "recall", "f1", "support"], rows)],
    )


def _confused_pairs_section(cm: Sequence[Sequence[int]], names: list[str]) -> Section:
    pairs = figures.confused_pairs(cm, names)
    return Section(
        "confused-pairs",
        "Most confused pairs",
        [Paragraphs(pairs) if pairs else Note("No mistakes on the test set.")],
    )


def _filters_section(record: RunRecord, convs: list[nn.Conv2d]) -> Section:
    if convs:
        filters = [
            Image("filters.png", "Filters of the first conv layer", figures.first_conv_filters(convs[0]))
        ]
    else:
        filters = [Note(f"{record.model} has no convolutional layers, so there are no filters to show.")]
    return Section("filters", "First-layer filters", filters)


def _feature_maps_section(
    model: nn.Module, record: RunRecord, ev: TestEvaluation, image_index: int, convs: list[nn.Conv2d]
) -> Section:
    """What each conv block makes of one test image; only a model whose blocks are `features` has them."""
    has_features = isinstance(getattr(model, "features", None), nn.Sequential) and len(model.features) > 0
    if not (convs and has_features):
        note = Note(f"{record.model} has no conv blocks, so there are no feature maps to show.")
        return Section("feature-maps", "Feature maps", [note])
    names, norm = record.class_names, record.normalization
    image = ev.images[image_index : image_index + 1]
    outputs = figures.block_outputs(model, Normalizer(norm["mean"], norm["std"])(image))
    caption = (
        f"Test image {image_index} (true: {names[ev.labels[image_index]]}, "
        f"predicted: {names[ev.predictions[image_index]]})"
    )
    return Section(
        "feature-maps",
        "Feature maps",
        [Image("feature-maps.png", caption, figures.feature_maps(image[0], outputs))],
    )


def _examples_section(ev: TestEvaluation, names: list[str]) -> Section:
    parts = []
    for ok, title, filename in (
        (True, "Correctly classified", "correct.png"),
        (False, "Misclassified", "wrong.png"),
    ):
        idx = torch.nonzero((ev.predictions == ev.labels) == ok).flatten()[:EXAMPLES]
        if len(idx):
            png = figures.examples(
                ev.images[idx], ev.labels[idx].tolist(), ev.predictions[idx].tolist(), names, title
            )
            parts.append(Image(filename, f"{title} test images (first {len(idx)})", png))
        else:
            parts.append(Note(f"No {title.lower()} test images."))
    return Section("examples", "Examples", parts)


def _weights_section(model: nn.Module) -> Section:
    png = figures.weight_histograms(model)
    return Section("weights", "Weights and biases", [Image("weights.png", "Per Conv2d/Linear layer", png)])


def _run_sections(model: nn.Module, record: RunRecord, ev: TestEvaluation, image_index: int) -> list[Section]:
    """The sections of one run, in page order (the figures are drawn in this order too)."""
    names, cm = record.class_names, ev.metrics["confusion_matrix"]
    convs = _conv_layers(model)
    return [
        _curves_section(record),
        _confusion_section(cm, names),
        _per_class_section(ev.metrics),
        _confused_pairs_section(cm, names),
        _filters_section(record, convs),
        _feature_maps_section(model, record, ev, image_index, convs),
        _examples_section(ev, names),
        _weights_section(model),
    ]


def build_report(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    target: RunTarget | None = None,
    storage: str | None = None,
    image_index: int = 0,
    data_dir: str | Path | None = None,
    on_note=None,
) -> Path:
    """Write the PNGs and a self-contained report.html for one run into `out_dir`; return report.html."""
    if isinstance(image_index, bool) or not isinstance(image_index, int) or image_index < 0:
        raise UsageError(f"image index must be a non-negative integer, got {image_index!r}")
    check_writable(out_dir, 16 << 20, "the report")  # a page of PNGs: a few MiB
    model, record = load_run(run_dir)
    ev = _evaluate(model, record, data_dir)
    if image_index >= len(ev.images):
        raise UsageError(
            f"image index {image_index} is out of range; the test set has {len(ev.images)} images"
        )
    study = target.study if target else record.study
    sections = _run_sections(model, record, ev, image_index)
    sections.append(study_section(study, storage, on_note))
    sections.append(bench_section(record))

    summary = Table(
        ["model", "dataset", "parameters", "test accuracy", "test log loss", "run"],
        [
            [
                record.model,
                record.dataset,
                record.num_params,
                ev.metrics["accuracy"],
                ev.metrics.get("log_loss"),
                str(run_dir),
            ]
        ],
    )
    page = render(
        f"zoo report: {target.name if target else Path(run_dir).name} ({record.model})", summary, sections
    )
    out_dir = Path(out_dir)
    # Each file is written atomically, report.html last: a reader never sees a page without its figures.
    for section in sections:
        for image in section.images():
            write_bytes_atomic(out_dir / image.filename, image.png)
    report = out_dir / "report.html"
    write_text_atomic(report, page)
    return report


def report_targets(
    target: str,
    *,
    out: str | Path | None = None,
    storage: str | None = None,
    study: str | None = None,
    image_index: int = 0,
    data_dir: str | Path | None = None,
    pretrained: bool = False,
    on_start=None,
    on_note=None,
) -> list[Path]:
    """Resolve TARGET like `zoo export` and report each run: artifacts/reports/<name>/ by default, or
    `out` (one run) / `out/<name>` (several). `on_start(RunTarget)` lets a front end show progress,
    `on_note(str)` what a report had to leave out."""
    targets = resolve_targets(target, storage=storage, study=study, pretrained=pretrained)
    reports = []
    for t in targets:
        if out is None:
            folder = inside(paths.artifacts_dir() / "reports", t.name, what="report name")
        else:
            folder = Path(out) if len(targets) == 1 else Path(out) / t.name
        check_writable(folder, 16 << 20, "the report")  # before any work or progress line
        check_run_data(read_record(t.run_dir), t.run_dir)  # the dataset under its name is still the run's
        if on_start:
            on_start(t)
        reports.append(
            build_report(
                t.run_dir,
                folder,
                target=t,
                storage=storage,
                image_index=image_index,
                data_dir=data_dir,
                on_note=on_note,
            )
        )
    return reports
