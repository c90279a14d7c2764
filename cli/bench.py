"""`zoo bench [TARGET]`: accuracy and latency tables across runtimes."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import err, expected_errors, out
from cli.render import classification_table, confusion_table
from zoo.bench import BenchOptions, check_results_folder, run_bench, save_results
from zoo.errors import UsageError


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"{option} takes comma-separated integers, e.g. 1,32,256; got {text!r}") from None


def latency_table(report: dict) -> Table:
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
    rows = [(r, lat) for r in report["results"] if r.get("available") for lat in r["latency"]]
    best_p50: dict[int, float] = {}
    best_ips: dict[int, float] = {}
    for _, lat in rows:
        b = lat["batch_size"]
        best_p50[b] = min(best_p50.get(b, float("inf")), lat["p50_ms"])
        best_ips[b] = max(best_ips.get(b, 0.0), lat["throughput_ips"])
    for r, lat in rows:
        b = lat["batch_size"]
        p50 = f"{lat['p50_ms']:.3f}"
        ips = f"{lat['throughput_ips']:,.0f}"
        speed = f"{lat['speedup_vs_torch_cpu']:.2f}x" if lat.get("speedup_vs_torch_cpu") else "-"
        table.add_row(
            r["model"],
            r["runtime"],
            r["variant"],
            r["provider"],
            str(r["threads"]),
            str(b),
            f"{lat['first_call_ms']:.2f}",
            f"[bold]{p50}[/]" if lat["p50_ms"] == best_p50[b] else p50,
            f"{lat['p90_ms']:.3f}",
            f"{lat['p99_ms']:.3f}",
            f"{lat['mean_ms']:.3f}",
            f"{lat['stdev_ms']:.3f}",
            f"[bold]{ips}[/]" if lat["throughput_ips"] == best_ips[b] else ips,
            speed,
        )
    return table


def accuracy_table(report: dict) -> Table:
    table = Table(title="accuracy on the test set")
    for column in ("model", "runtime", "variant", "accuracy", "log loss", "agreement w/ torch-cpu", "load s"):
        table.add_column(column, justify="left" if column in ("model", "runtime", "variant") else "right")
    for r in report["results"]:
        if not r.get("available"):
            table.add_row(
                r["model"], r["runtime"], r["variant"], f"[yellow]unavailable[/]: {r['reason']}", "", "", ""
            )
            continue
        agree = f"{r['agreement_with_torch_cpu']:.2%}" if r["agreement_with_torch_cpu"] is not None else "-"
        table.add_row(
            r["model"],
            r["runtime"],
            r["variant"],
            f"{r['accuracy']:.4f}",
            f"{r['log_loss']:.4f}",
            agree,
            f"{r['load_seconds']:.3f}",
        )
    if report["unavailable"]:
        table.caption = "unavailable: " + "; ".join(f"{k} ({v})" for k, v in report["unavailable"].items())
    return table


@expected_errors
def bench(
    target: Annotated[
        str | None,
        typer.Argument(
            help="An exported .onnx, a folder of exports or a model name (default: every export)."
        ),
    ] = None,
    runtime: Annotated[
        list[str] | None,
        typer.Option(
            help="onnxruntime, onnxruntime-cuda, torch-cpu, torch-cuda or all (repeatable; default all)."
        ),
    ] = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,32,256",
    warmup: Annotated[int, typer.Option(help="Untimed calls before timing.")] = 10,
    iters: Annotated[int, typer.Option(help="Timed calls, at least.")] = 100,
    min_seconds: Annotated[float, typer.Option(help="Time each batch size for at least this long.")] = 1.0,
    threads: Annotated[int | None, typer.Option(help="Intra-op threads (default: all cores).")] = None,
    variants: Annotated[
        str, typer.Option(help="Which exported variants: fp32,int8,fp16.")
    ] = "fp32,int8,fp16",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Results folder (default artifacts/bench/<time>).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON on stdout.")] = False,
) -> None:
    """Benchmark exported models: accuracy, per-class report and latency for each runtime."""
    options = BenchOptions(
        runtimes=[r.strip() for item in (runtime or ["all"]) for r in item.split(",")],
        batch_sizes=_ints(batch_sizes, "--batch-sizes"),
        warmup=warmup,
        iters=iters,
        min_seconds=min_seconds,
        threads=threads,
        variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
        data_dir=str(data_dir) if data_dir else None,
    )
    check_results_folder(out_dir)
    console = err if as_json else out
    with console.status("benchmarking") as status:
        report = run_bench(target, options, progress=lambda text: status.update(text))
    folder = save_results(report, out_dir)
    if as_json:
        typer.echo(json.dumps({**report, "folder": str(folder)}, indent=2))
        return
    for r in report["results"]:
        if r.get("available") and r["runtime"] in ("torch-cpu", "onnxruntime") and r["variant"] == "fp32":
            title = f"{r['model']} ({Path(r['export']).name}) · {r['runtime']} · test set"
            out.print(classification_table(r["metrics"], title=title))
            if r["runtime"] == "onnxruntime":
                out.print(
                    confusion_table(
                        r["metrics"]["confusion_matrix"],
                        list(r["metrics"]["per_class"]),
                        title="confusion matrix (onnxruntime)",
                    )
                )
    out.print(accuracy_table(report))
    out.print(latency_table(report))
    out.print(f"results in [bold]{folder}[/] (results.json, results.md, confusion PNGs)", highlight=False)
