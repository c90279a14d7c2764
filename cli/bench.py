"""`zoo bench [TARGET]`: accuracy and latency tables across runtimes."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import foreign
from cli.console import err, expected_errors, out, safe
from cli.options import within
from cli.render import classification_table, fits, print_confusion
from zoo.core.errors import UsageError
from zoo.inference.bench import (
    VARIANTS,
    BenchOptions,
    check_results_folder,
    foreign_lines,
    run_bench,
    save_results,
)
from zoo.inference.bench_results import BenchResults, Measured
from zoo.models.params import Rule


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"{option} takes comma-separated integers, e.g. 1,32,256; got {text!r}") from None


def _best(report: BenchResults) -> tuple[dict[int, float], dict[int, float]]:
    """The lowest p50 and the highest throughput of each batch size, which the tables print in bold."""
    best_p50: dict[int, float] = {}
    best_ips: dict[int, float] = {}
    for r in report.measured:
        for lat in r.latency:
            b = lat.batch_size
            best_p50[b] = min(best_p50.get(b, float("inf")), lat.p50_ms)
            best_ips[b] = max(best_ips.get(b, 0.0), lat.throughput_ips)
    return best_p50, best_ips


def latency_table(report: BenchResults) -> Table:
    table = Table(title="latency and throughput (best of each column in bold)")
    for column in (
        "model",
        "runtime",
        "variant",
        "provider",
        "threads",
        "batch",
        "first ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "mean ms",
        "stdev ms",
        "images/s",
        "vs torch-cpu",
    ):
        table.add_column(
            column, justify="left" if column in ("model", "runtime", "variant", "provider") else "right"
        )
    best_p50, best_ips = _best(report)
    for r in report.measured:
        for lat in r.latency:
            b = lat.batch_size
            p50 = f"{lat.p50_ms:.3f}"
            ips = f"{lat.throughput_ips:,.0f}"
            speed = f"{lat.speedup_vs_torch_cpu:.2f}x" if lat.speedup_vs_torch_cpu else "-"
            table.add_row(
                safe(r.shown),
                safe(r.runtime),
                safe(r.variant),
                safe(r.provider),
                f"{r.threads:d}" if r.threads else "-",  # 0: a GPU row, no CPU threads to speak of
                f"{b:d}",
                f"{lat.first_call_ms:.2f}",
                f"[bold]{p50}[/]" if lat.p50_ms == best_p50[b] else p50,
                f"{lat.p90_ms:.3f}",
                f"{lat.p99_ms:.3f}",
                f"{lat.mean_ms:.3f}",
                f"{lat.stdev_ms:.3f}",
                f"[bold]{ips}[/]" if lat.throughput_ips == best_ips[b] else ips,
                speed,
            )
    return table


def latency_tables_narrow(report: BenchResults) -> list[Table]:
    """The latency figures for a narrow terminal or a log: one small table per measured entry, its
    figures as rows and the batch sizes as columns, so every figure shows in full at 80 columns."""
    best_p50, best_ips = _best(report)
    tables = []
    for r in report.measured:
        threads = f", {r.threads:d} threads" if r.threads else ""  # 0: a GPU row
        table = Table(
            title=f"{_export(r)} · {safe(r.runtime)} · {safe(r.variant)}",
            caption=f"{safe(r.provider)}{threads}; bold: best at that batch size",
        )
        table.add_column("batch size")
        for lat in r.latency:
            table.add_column(f"{lat.batch_size:d}", justify="right")

        def row(label, key, fmt, best=None, r=r, table=table):
            cells = []
            for lat in r.latency:
                value = getattr(lat, key)
                text = "-" if value is None else fmt.format(float(value))
                bold = best is not None and value == best[lat.batch_size]
                cells.append(f"[bold]{text}[/]" if bold else text)
            table.add_row(label, *cells)

        row("first call ms", "first_call_ms", "{:.2f}")
        row("p50 ms", "p50_ms", "{:.3f}", best_p50)
        row("p90 ms", "p90_ms", "{:.3f}")
        row("p99 ms", "p99_ms", "{:.3f}")
        row("mean ms", "mean_ms", "{:.3f}")
        row("stdev ms", "stdev_ms", "{:.3f}")
        row("images/s", "throughput_ips", "{:,.0f}", best_ips)
        row("vs torch-cpu", "speedup_vs_torch_cpu", "{:.2f}x")
        tables.append(table)
    return tables


def _export(r) -> str:
    """`model (folder)` of a result, `model (foreign ONNX: file.onnx)` of a foreign file's, safe: both are
    read from results and metadata."""
    if r.foreign is not None:
        return f"{safe(r.model)} (foreign ONNX: {safe(Path(r.export).name)})"
    return f"{safe(r.model)} ({safe(Path(r.export).name)})"


def _accuracy_cells(r: Measured) -> list[str]:
    """runtime, variant, accuracy, log loss, agreement with torch-cpu, load seconds of a measured entry."""
    agree = f"{r.agreement_with_torch_cpu:.2%}" if r.agreement_with_torch_cpu is not None else "-"
    accuracy, loss, load = f"{r.accuracy:.4f}", f"{r.log_loss:.4f}", f"{r.load_seconds:.3f}"
    return [safe(r.runtime), safe(r.variant), accuracy, loss, agree, load]


def accuracy_table_narrow(report: BenchResults) -> tuple[list[Table], list[str]]:
    """Accuracy per export (the model in the title), and the reasons of unavailable rows as lines."""
    tables: dict[str, Table] = {}
    reasons = []
    for r in report.results:
        if not isinstance(r, Measured):
            where = f"{_export(r)} {safe(r.runtime)} {safe(r.variant)}"
            reasons.append(f"unavailable: {where}: {safe(r.reason)}")
            continue
        key = _export(r)
        if key not in tables:
            tables[key] = Table(title=f"{key}: accuracy on the test set")
            for column in ("runtime", "variant", "accuracy", "log loss", "agreement", "load s"):
                tables[key].add_column(
                    column, justify="left" if column in ("runtime", "variant") else "right"
                )
        tables[key].add_row(*_accuracy_cells(r))
    reasons += [f"unavailable: {safe(k)} ({safe(v)})" for k, v in report.unavailable.items()]
    return list(tables.values()), reasons


def accuracy_table(report: BenchResults) -> Table:
    table = Table(title="accuracy on the test set")
    for column in ("model", "runtime", "variant", "accuracy", "log loss", "agreement w/ torch-cpu", "load s"):
        table.add_column(column, justify="left" if column in ("model", "runtime", "variant") else "right")
    for r in report.results:
        if not isinstance(r, Measured):
            reason = f"[yellow]unavailable[/]: {safe(r.reason)}"
            table.add_row(safe(r.shown), safe(r.runtime), safe(r.variant), reason, "", "", "")
            continue
        table.add_row(safe(r.shown), *_accuracy_cells(r))
    if report.unavailable:
        unavailable = (f"{safe(k)} ({safe(v)})" for k, v in report.unavailable.items())
        table.caption = "unavailable: " + "; ".join(unavailable)
    return table


ALL_VARIANTS = ",".join(VARIANTS)
Variants = Annotated[
    str,
    typer.Option(
        help="Which variants: fp32, int8, fp16 (exported files) and bf16 (model.onnx at bf16 precision, "
        "openvino)."
    ),
]


@expected_errors
def bench(
    target: Annotated[
        str | None,
        typer.Argument(
            help="An exported .onnx, a folder of exports or a model name (default: every export); or an "
            ".onnx file zoo did not export, with --dataset, --mean and --std."
        ),
    ] = None,
    runtime: Annotated[
        list[str] | None,
        typer.Option(
            help="onnxruntime, onnxruntime-cuda, openvino, torch-cpu, torch-cuda or all "
            "(repeatable; default all)."
        ),
    ] = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,32,256",
    warmup: Annotated[int, typer.Option(help="Untimed calls before timing.")] = 10,
    iters: Annotated[int, typer.Option(help="Timed calls, at least.")] = 100,
    min_seconds: Annotated[
        float,
        typer.Option(
            help="Time each batch size for at least this long.",
            callback=within(Rule(float, low=0, high=3600)),
        ),
    ] = 1.0,
    threads: Annotated[int | None, typer.Option(help="Intra-op threads (default: all cores).")] = None,
    variants: Variants = ALL_VARIANTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Results folder (default artifacts/bench/<time>).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON on stdout.")] = False,
    dataset: foreign.Dataset = None,
    mean: foreign.Mean = None,
    std: foreign.Std = None,
    layout: foreign.Layout = None,
    size: foreign.Size = None,
    class_names: foreign.ClassNames = None,
    preprocessing: foreign.Sidecar = None,
    outputs: foreign.Outputs = None,
) -> None:
    """Benchmark exported models: accuracy, per-class report and latency for each runtime.

    Any ONNX image classifier too: `zoo bench model.onnx --dataset fashion-mnist --mean 0.286 --std 0.353`
    measures a file zoo did not export on that dataset's test set (onnxruntime and openvino, as it is; no
    torch rows, since there are no PyTorch weights; batch 1 only when its batch axis is static)."""
    described = foreign.feeding(dataset, mean, std, layout, size, class_names, preprocessing, outputs)
    options = BenchOptions(
        runtimes=[r.strip() for item in (runtime or ["all"]) for r in item.split(",")],
        batch_sizes=_ints(batch_sizes, "--batch-sizes"),
        warmup=warmup,
        iters=iters,
        min_seconds=min_seconds,
        threads=threads,
        variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
        data_dir=str(data_dir) if data_dir else None,
        foreign=described,
    )
    check_results_folder(out_dir)
    console = err if as_json else out
    with console.status("benchmarking") as status:
        report = run_bench(target, options, progress=lambda text: status.update(safe(text)))
    folder = save_results(report, out_dir)
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "folder": str(folder)}, indent=2))
        return
    _print_test_reports(report)
    _print_tables(report)
    for line in foreign_lines(report):
        out.print(safe(line), highlight=False, soft_wrap=True)
    for line in report.summary:
        out.print(safe(line), highlight=False)
    for warning in report.machine.noise.warnings:
        out.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False)
    files = "results.json, results.md, confusion PNGs"
    out.print(f"results in [bold]{safe(folder)}[/] ({files})", highlight=False)


def _print_test_reports(report: BenchResults) -> None:
    """The per-class report of the reference rows (torch-cpu, onnxruntime fp32) and one confusion table."""
    for r in report.measured:
        if r.runtime in ("torch-cpu", "onnxruntime") and r.variant == "fp32":
            title = f"{_export(r)} · {safe(r.runtime)} · test set"
            out.print(classification_table(r.metrics.model_dump(), title=title))
            if r.runtime == "onnxruntime":
                print_confusion(
                    out,
                    r.metrics.confusion_matrix,
                    list(r.metrics.per_class),
                    title="confusion matrix (onnxruntime)",
                )


def _print_tables(report: BenchResults) -> None:
    """The wide tables where they fit; in a narrow terminal or a log (80 columns), the long format,
    which shows every figure in full instead of cutting each column to a character or two."""
    accuracy, latency = accuracy_table(report), latency_table(report)
    if fits(accuracy, out) and fits(latency, out):
        out.print(accuracy)
        out.print(latency)
        return
    tables, reasons = accuracy_table_narrow(report)
    for table in tables:
        out.print(table)
    for line in reasons:
        out.print(line, highlight=False, soft_wrap=True)
    for table in latency_tables_narrow(report):
        out.print(table)
