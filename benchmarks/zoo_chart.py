"""The zoo in one picture: top-1 accuracy against latency (batch 1) and throughput (batch 256) for every
shipped model, runtime and variant, from the measured files alone, with the Pareto front marked.

    .venv/bin/python benchmarks/zoo_chart.py [--out docs/img/zoo.png]

Reads benchmarks/latency-fashion-mnist.md (the table benchmarks/shipped_models.py writes: latency, throughput
and the accuracy checks of each export) and benchmarks/results-fashion-mnist.csv (each shipped model's top-1
record); measures nothing. Writes the PNG and prints each panel's Pareto front. The same input gives the
same picture, byte for byte.
"""

import argparse
import csv
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
LATENCY_MD = ROOT / "benchmarks" / "latency-fashion-mnist.md"
RESULTS_CSV = ROOT / "benchmarks" / "results-fashion-mnist.csv"
OUT = ROOT / "docs" / "img" / "zoo.png"
TEST_IMAGES = 10_000  # Fashion-MNIST's test split: the denominator of the table's correct counts

# the columns of the latency table this script reads (shipped_models.py writes them)
MODEL, RUNTIME, VARIANT = "model", "runtime", "variant"
CORRECT, INT8_DROP = "onnxruntime correct", "int8 drop (points)"
P50_1, IPS_256 = "p50 ms @1", "img/s @256"
REQUIRED = (MODEL, INT8_DROP, CORRECT, RUNTIME, VARIANT, P50_1, IPS_256)

RUNTIME_COLOURS = {"torch-cpu": "tab:red", "onnxruntime": "tab:blue", "openvino": "tab:green"}
SPARE_COLOURS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
VARIANT_MARKERS = {"fp32": "o", "int8": "s", "bf16": "^", "fp16": "D"}
SPARE_MARKERS = ("v", "P", "X", "*")


class ChartDataError(ValueError):
    """A source file lacks what the chart needs; the message names the file and the key."""


@dataclass(frozen=True)
class Point:
    model: str
    runtime: str
    variant: str
    top1: float  # percent
    source: str  # where the accuracy comes from: "onnxruntime", "int8 drop", "fp32 figure" or "record"
    p50_ms_1: float
    ips_256: float

    @property
    def label(self) -> str:
        return f"{self.model} {self.runtime}/{self.variant}"


@dataclass(frozen=True)
class Source:
    date: str
    machine: str
    points: list[Point]
    refused_int8: list[str]  # models whose int8 export the accuracy gate refused: no int8 file, no point


def pareto_front(points: Sequence[tuple[float, float]], *, minimize_x: bool) -> list[int]:
    """Indices of the points no other point dominates, in increasing x.

    Each point is (x, y): y (accuracy) is better higher; x is better lower when `minimize_x` (latency), higher
    otherwise (throughput). A point is dominated by one at least as good in both and better in one; equal
    points do not dominate each other, so both stay on the front.
    """

    def at_least_as_good(a: tuple[float, float], b: tuple[float, float]) -> bool:
        x_ok = a[0] <= b[0] if minimize_x else a[0] >= b[0]
        return x_ok and a[1] >= b[1]

    front = [
        i
        for i, p in enumerate(points)
        if not any(at_least_as_good(q, p) and q != p for j, q in enumerate(points) if j != i)
    ]
    return sorted(front, key=lambda i: (points[i][0], points[i][1], i))


def _number(text: str, path: Path, key: str) -> float:
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        raise ChartDataError(f"{path}: {key} {text!r} is not a number") from None


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_records(path: Path = RESULTS_CSV) -> dict[str, float]:
    """Each shipped model's top-1 record (percent) from the reproduction CSV, as the latency table measured
    its export: with test-time flips (`top1_tta`) for a recipe measured so, whose export was made with --tta
    (benchmarks/shipped_models.py), else the default model's `top1`."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"model", "top1"} <= set(reader.fieldnames):
            raise ChartDataError(f"{path}: needs the columns model and top1")
        return {
            row["model"]: _number(row.get("top1_tta") or row["top1"], path, f"{row['model']} top1")
            for row in reader
        }


def read_latency(path: Path = LATENCY_MD, records: dict[str, float] | None = None) -> Source:
    """The points of the latency table; the title's date and machine.

    The accuracy of a point is the one a user gets from that file: fp32, the export's correct count by plain
    onnxruntime / 10,000; int8, that fp32 figure less the table's int8 drop; a variant with no figure of its
    own (OpenVINO's bf16 precision on model.onnx), the fp32 figure; where the table has no count, the record.
    """
    lines = path.read_text().splitlines()
    title = next((line for line in lines if line.startswith("# ")), "")
    match = re.search(r"\((\d{4}-\d{2}-\d{2}),\s*(.+)\)\s*$", title)
    if match is None:
        raise ChartDataError(f"{path}: title has no '(date, machine)': {title!r}")
    date, machine = match.group(1), re.sub(r"\b1 cores\b", "1 core", match.group(2))
    header_at = next((i for i, line in enumerate(lines) if _cells(line)[:1] == [MODEL]), None)
    if header_at is None:
        raise ChartDataError(f"{path}: no table whose first column is {MODEL!r}")
    header = _cells(lines[header_at])
    missing = [key for key in REQUIRED if key not in header]
    if missing:
        raise ChartDataError(f"{path}: table lacks the column {missing[0]!r}")
    col = {key: header.index(key) for key in REQUIRED}
    records = records or {}
    points, refused = [], []
    for line in lines[header_at + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        if len(cells) != len(header):
            raise ChartDataError(f"{path}: row has {len(cells)} cells, the header {len(header)}: {line!r}")
        model = cells[col[MODEL]].strip("`")
        runtime, variant = cells[col[RUNTIME]], cells[col[VARIANT]]
        where = f"{model} {runtime}/{variant}"
        correct = cells[col[CORRECT]]
        if correct:
            fp32, source = _number(correct, path, f"{where} {CORRECT}") * 100 / TEST_IMAGES, "onnxruntime"
        elif model in records:
            fp32, source = records[model], "record"
        else:
            raise ChartDataError(f"{path}: {where} has no {CORRECT!r} and {model} no record")
        drop = cells[col[INT8_DROP]]
        if drop.startswith("refused") and model not in refused:
            refused.append(model)
        if variant == "int8":
            if drop.startswith("refused"):
                continue  # the export wrote no int8 file; nothing a user can run
            top1, source = fp32 - _number(drop, path, f"{where} {INT8_DROP}"), "int8 drop"
        elif variant == "fp32":
            top1 = fp32
        else:
            top1, source = fp32, "fp32 figure"
        points.append(
            Point(
                model,
                runtime,
                variant,
                round(top1, 4),
                source,
                _number(cells[col[P50_1]], path, f"{where} {P50_1}"),
                _number(cells[col[IPS_256]], path, f"{where} {IPS_256}"),
            )
        )
    if not points:
        raise ChartDataError(f"{path}: the table has no rows")
    return Source(date, machine, points, refused)


def check_records(points: Sequence[Point], records: dict[str, float], path: Path = RESULTS_CSV) -> None:
    """The fp32 figures the table measured equal the CSV's records: both files describe the same weights."""
    for p in points:
        measured = p.variant == "fp32" and p.source == "onnxruntime" and p.model in records
        if measured and abs(p.top1 - records[p.model]) > 0.005:
            raise ChartDataError(f"{path}: {p.model} top1 {records[p.model]} but the table measured {p.top1}")


def fronts(points: Sequence[Point]) -> dict[str, list[Point]]:
    latency = pareto_front([(p.p50_ms_1, p.top1) for p in points], minimize_x=True)
    throughput = pareto_front([(p.ips_256, p.top1) for p in points], minimize_x=False)
    return {"latency": [points[i] for i in latency], "throughput": [points[i] for i in throughput]}


def _style(names: Sequence[str], known: dict[str, str], spare: Sequence[str]) -> dict[str, str]:
    style = dict(known)
    for name, value in zip(sorted(set(names) - set(known)), spare * len(names), strict=False):
        style[name] = value
    return style


def draw(source: Source, latency_md: Path = LATENCY_MD) -> Figure:
    points = source.points
    front = fronts(points)
    colours = _style([p.runtime for p in points], RUNTIME_COLOURS, SPARE_COLOURS)
    markers = _style([p.variant for p in points], VARIANT_MARKERS, SPARE_MARKERS)
    fig = Figure(figsize=(13, 6.6), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    panels = [
        ("latency", lambda p: p.p50_ms_1, "p50 latency at batch 1 (ms, log scale; lower is better)", "post"),
        (
            "throughput",
            lambda p: p.ips_256,
            "throughput at batch 256 (images/s, log scale; higher is better)",
            "pre",
        ),
    ]
    for ax, (key, x_of, xlabel, step) in zip(axes, panels, strict=True):
        on_front = set(front[key])
        for p in points:
            ax.scatter(
                x_of(p),
                p.top1,
                c=colours[p.runtime],
                marker=markers[p.variant],
                s=46 if p in on_front else 26,
                alpha=0.95 if p in on_front else 0.5,
                edgecolors="black" if p in on_front else "none",
                linewidths=0.8,
                zorder=3,
            )
        xs, ys = [x_of(p) for p in front[key]], [p.top1 for p in front[key]]
        ax.plot(xs, ys, drawstyle=f"steps-{step}", color="black", lw=1.2, alpha=0.7, zorder=2)
        # numbers beside the front's points, their names in a key where the panel is empty
        for n, p in enumerate(front[key], start=1):
            ax.annotate(
                str(n),
                (x_of(p), p.top1),
                xytext=(-9, 3) if key == "latency" else (4, 3),
                textcoords="offset points",
                fontsize=7.5,
                fontweight="bold",
                zorder=4,
            )
        key_lines = [
            f"{n:>2}  {p.model} {p.runtime}/{p.variant}  {p.top1:.2f}%  "
            + (f"{p.p50_ms_1:.3f} ms" if key == "latency" else f"{p.ips_256:,.0f}/s")
            for n, p in enumerate(front[key], start=1)
        ]
        ax.text(  # (a): right of the models, above the legend; (b): left of them, under the ResNets
            0.985 if key == "latency" else 0.015,
            0.44 if key == "latency" else 0.13,
            "Pareto front\n" + "\n".join(key_lines),
            transform=ax.transAxes,
            ha="right" if key == "latency" else "left",
            va="top" if key == "latency" else "bottom",
            multialignment="left",
            fontsize=7.5,
            family="monospace",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7", "alpha": 0.9},
            zorder=5,
        )
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.25)
        ax.set_title(
            "(a) accuracy vs latency, batch 1"
            if key == "latency"
            else "(b) accuracy vs throughput, batch 256"
        )
    axes[0].set_ylabel("top-1 accuracy, Fashion-MNIST test (%)")
    handles = [
        axes[0].scatter([], [], c=colours[r], marker="o", label=r)
        for r in sorted({p.runtime for p in points})
    ] + [
        axes[0].scatter([], [], c="grey", marker=markers[v], label=v)
        for v in sorted({p.variant for p in points})
    ]
    handles.append(axes[0].plot([], [], color="black", lw=1.2, label="Pareto front")[0])
    axes[0].legend(handles=handles, loc="lower right", fontsize=8, ncol=2)
    fig.suptitle(
        f"The zoo in one picture: {len({p.model for p in points})} shipped models x runtimes x variants "
        f"({source.machine}, {source.date})"
    )
    refused = (
        f" No int8 point where the export refused it: {', '.join(source.refused_int8)}."
        if source.refused_int8
        else ""
    )
    fig.text(
        0.5,
        -0.01,
        f"From {latency_md.name} (written by benchmarks/shipped_models.py; nothing re-measured). "
        f"Accuracy: fp32 = the export's correct count by plain onnxruntime / {TEST_IMAGES:,}; int8 = fp32 "
        "minus the int8 drop the export measured on the full test set;\nbf16 (OpenVINO precision hint on "
        "model.onnx, not measured per model) = the fp32 figure; the two ResNets' exports average each image "
        "with its mirror (--tta). Outlined, numbered points are on the front "
        f"(the key names them).{refused}",
        ha="center",
        va="top",
        fontsize=8,
    )
    return fig


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # no Software/date metadata: the same input gives the same bytes whatever matplotlib wrote it
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def front_text(front: dict[str, list[Point]]) -> str:
    lines = []
    for key, title, unit in (
        ("latency", "Pareto front, accuracy vs p50 latency at batch 1", "ms"),
        ("throughput", "Pareto front, accuracy vs throughput at batch 256", "images/s"),
    ):
        lines.append(f"{title}:")
        for p in front[key]:
            x = f"{p.p50_ms_1:.3f} {unit}" if key == "latency" else f"{p.ips_256:,.0f} {unit}"
            lines.append(f"  {p.label:<40} {p.top1:6.2f}%  {x:>16}  (accuracy: {p.source})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"PNG to write (default {OUT.relative_to(ROOT)})"
    )
    parser.add_argument("--latency", type=Path, default=LATENCY_MD, help="the shipped models' latency table")
    parser.add_argument("--results", type=Path, default=RESULTS_CSV, help="the shipped models' records (CSV)")
    args = parser.parse_args(argv)
    try:
        records = read_records(args.results)
        source = read_latency(args.latency, records)
        check_records(source.points, records, args.results)
    except (OSError, ChartDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    data = png_bytes(draw(source, args.latency))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    print(front_text(fronts(source.points)))
    print(f"wrote {args.out} ({len(data) / 1024:.0f} KB, {len(source.points)} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
