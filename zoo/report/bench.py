"""The benchmark section: latency and throughput of this run's exports from the newest `zoo bench` results
that measured them.

A row belongs to the run when it measured an export of the run's weights (the `weights_sha256` the ONNX
metadata records, which bench copies into each row): the model name alone would show another export's
figures (another trial, another run of the same model) as this run's. A row of an ONNX file zoo did not
export (zoo.inference.foreign) has no weights_sha256, only the sha256 of its file, so it is never taken for
a run's,
even when the file is named like the run's model.
"""

from pathlib import Path

from zoo.core import paths
from zoo.inference.bench_results import RESULTS, BenchResultsError, Measured, read_results
from zoo.report import figures
from zoo.report.page import Image, Note, Section, Table
from zoo.train.checkpoint import RunRecord


def results_files(root: Path | None = None) -> list[Path]:
    """Every results.json under artifacts/bench/, newest first; folder names are timestamps, so they sort
    by time."""
    root = root or paths.artifacts_dir() / "bench"
    found = sorted(
        (p for p in root.glob(f"*/{RESULTS}") if not p.parent.name.startswith(".")),
        key=lambda p: (p.parent.name, p.stat().st_mtime),
    )
    return found[::-1]


def bench_section(record: RunRecord, results_path: Path | None = None) -> Section:
    section = Section("bench", "Benchmark")
    files = [results_path] if results_path else results_files()
    if not files:
        section.parts.append(Note("No benchmark results yet; `zoo bench` writes them."))
        return section
    skipped, unidentified = [], []
    for path in files:
        try:
            doc = read_results(path)
        except BenchResultsError as exc:
            skipped.append(str(exc))
            continue
        entries = [r for r in doc.measured if r.weights_sha256 == record.weights_sha256 and r.latency]
        if entries:
            section.parts += [Note(f"Skipped: {reason}") for reason in skipped]
            section.parts += _figures(record.model, path, doc.created_at, entries)
            return section
        # rows an older zoo wrote without the export's identity; a foreign file's rows have none either, but
        # they are identified by the file's sha256 and never belong to a run, whatever the file's name
        if any(
            r.model == record.model and r.weights_sha256 is None and r.foreign is None for r in doc.measured
        ):
            unidentified.append(path)
    section.parts += [Note(f"Skipped: {reason}") for reason in skipped]
    short = record.weights_sha256[:12]
    section.parts.append(
        Note(
            f"No benchmark results for exports of this run's weights (sha256 {short}…); "
            "export it (`zoo export`) and run `zoo bench`."
        )
    )
    if unidentified:
        section.parts.append(
            Note(
                f"{unidentified[0]} has {record.model} rows without the export's weights sha256 (written by "
                "an older zoo), so they cannot be told apart from other exports of the model; run "
                "`zoo bench` again."
            )
        )
    return section


def _figures(model: str, path: Path, created_at: str, entries: list[Measured]) -> list:
    """The plots and the table of the rows of one results file that measured this run's exports."""
    exports = list(dict.fromkeys(r.export for r in entries))
    latency: dict[str, list[tuple[int, float]]] = {}
    throughput: dict[str, list[tuple[int, float]]] = {}
    rows = []
    for r in entries:
        export = Path(r.export).name + (" (tta)" if r.tta else "")
        # one export: runtime/variant says it all; several (plain and --tta): which export too
        label = f"{r.runtime}/{r.variant}" if len(exports) == 1 else f"{export}: {r.runtime}/{r.variant}"
        for lat in r.latency:
            latency.setdefault(label, []).append((lat.batch_size, lat.p50_ms))
            throughput.setdefault(label, []).append((lat.batch_size, lat.throughput_ips))
            rows.append(
                [
                    export,
                    r.runtime,
                    r.variant,
                    lat.batch_size,
                    lat.p50_ms,
                    lat.p90_ms,
                    lat.p99_ms,
                    lat.throughput_ips,
                    r.accuracy,
                ]
            )
    return [
        Note(f"From {path} ({created_at}): {', '.join(exports)}."),
        Image(
            "bench-latency.png",
            "Median (p50) latency per batch and per image (log scales)",
            figures.latency_panels(latency, f"{model}: p50 latency"),
        ),
        Image(
            "bench-throughput.png",
            "Throughput",
            figures.lines_by_batch_size(throughput, "images / s", f"{model}: throughput"),
        ),
        Table(
            ["export", "runtime", "variant", "batch", "p50 ms", "p90 ms", "p99 ms", "images/s", "accuracy"],
            rows,
        ),
    ]
