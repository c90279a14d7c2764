"""The benchmark section: latency and throughput of this model from the newest `zoo bench` results."""

import json
from pathlib import Path

from zoo import paths
from zoo.report import figures
from zoo.report.page import Image, Note, Section, Table

SCHEMA = "zoo.bench/1"


def newest_results(root: Path | None = None) -> Path | None:
    """The newest results.json under artifacts/bench/; folder names are timestamps, so they sort by time."""
    root = root or paths.artifacts_dir() / "bench"
    found = sorted(
        (p for p in root.glob("*/results.json") if not p.parent.name.startswith(".")),
        key=lambda p: (p.parent.name, p.stat().st_mtime),
    )
    return found[-1] if found else None


def bench_section(model: str, results_path: Path | None = None) -> Section:
    section = Section("bench", "Benchmark")
    path = results_path or newest_results()
    if path is None:
        section.parts.append(Note("No benchmark results yet; `zoo bench` writes them."))
        return section
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        section.parts.append(Note(f"{path} cannot be read ({exc}); run `zoo bench` again."))
        return section
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        section.parts.append(Note(f"{path} is not a {SCHEMA} results file; skipped."))
        return section
    entries = [
        r
        for r in doc.get("results", [])
        if r.get("model") == model and r.get("available") and r.get("latency")
    ]
    if not entries:
        section.parts.append(Note(f"The newest benchmark ({path}) has no results for {model}."))
        return section
    latency: dict[str, list[tuple[int, float]]] = {}
    throughput: dict[str, list[tuple[int, float]]] = {}
    rows = []
    for r in entries:
        label = f"{r['runtime']}/{r['variant']}"
        for lat in r["latency"]:
            latency.setdefault(label, []).append((lat["batch_size"], lat["p50_ms"]))
            throughput.setdefault(label, []).append((lat["batch_size"], lat["throughput_ips"]))
            rows.append(
                [
                    r["runtime"],
                    r["variant"],
                    lat["batch_size"],
                    lat["p50_ms"],
                    lat["p90_ms"],
                    lat["p99_ms"],
                    lat["throughput_ips"],
                    r.get("accuracy"),
                ]
            )
    section.parts.append(Note(f"From {path} ({doc.get('created_at', 'unknown time')})."))
    section.parts.append(
        Image(
            "bench-latency.png",
            "Median (p50) latency per batch and per image (log scales)",
            figures.latency_panels(latency, f"{model}: p50 latency"),
        )
    )
    section.parts.append(
        Image(
            "bench-throughput.png",
            "Throughput",
            figures.lines_by_batch_size(throughput, "images / s", f"{model}: throughput"),
        )
    )
    section.parts.append(
        Table(["runtime", "variant", "batch", "p50 ms", "p90 ms", "p99 ms", "images/s", "accuracy"], rows)
    )
    return section
