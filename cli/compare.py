"""`zoo compare A B ...`: accuracy, per-class F1 and its spread, parameters, training time, latency."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import expected_errors, out, safe
from cli.options import Pretrained
from cli.render import fits, letters
from zoo.compare import compare as compare_entries


def _tables(result: dict, labels: list[str]) -> list[Table]:
    entries = result["entries"]
    summary = Table(title="models")
    for column in ("model", "kind", "test acc", "params", "train s", "batch-1 p50 ms"):
        summary.add_column(column, justify="left" if column in ("model", "kind") else "right")
    best = max(e["accuracy"] for e in entries)
    for label, e in zip(labels, entries, strict=True):
        acc = f"{e['accuracy']:.4f}"
        summary.add_row(
            safe(label),
            safe(e["kind"]),
            f"[bold]{acc}[/]" if e["accuracy"] == best else acc,
            f"{e['num_params']:,}" if e["num_params"] else "-",
            f"{e['train_seconds']:.1f}" if e["train_seconds"] else "-",
            f"{e['latency_ms']:.3f}" if e["latency_ms"] is not None else "-",
        )
    per_class = Table(title="per-class F1 (spread = best - worst)")
    per_class.add_column("class")
    for label in labels:
        per_class.add_column(safe(label), justify="right")
    per_class.add_column("spread", justify="right")
    for name, spread in result["f1_difference"].items():
        per_class.add_row(safe(name), *(f"{e['f1'][name]:.4f}" for e in entries), f"{spread:.4f}")
    return [summary, per_class]


@expected_errors
def compare(
    items: Annotated[
        list[str], typer.Argument(help="Variants (their latest run), run directories or exports.")
    ],
    latency: Annotated[bool, typer.Option(help="Measure batch-1 CPU latency of each.")] = True,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    pretrained: Pretrained = False,
) -> None:
    """Compare models side by side on the test set."""
    result = compare_entries(
        items, data_dir=str(data_dir) if data_dir else None, measure_latency=latency, pretrained=pretrained
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    entries = result["entries"]
    wide = _tables(result, [e["label"] for e in entries])
    if all(fits(t, out) for t in wide):
        out.print(*wide)
    else:  # 80 columns: the labels (run folders) become A, B, ... with a legend, instead of being cut
        keys = letters(len(entries))
        out.print(*_tables(result, keys))
        for key, e in zip(keys, entries, strict=True):
            out.print(f"{safe(key)}: {safe(e['label'])}", highlight=False, soft_wrap=True)
    differ = (f"{safe(c)} ({result['f1_difference'][c]:.3f})" for c in result["most_different"])
    out.print("differ most on: " + ", ".join(differ), highlight=False)
