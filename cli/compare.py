"""`zoo compare A B ...`: accuracy, per-class F1 and its spread, parameters, training time, latency."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import foreign
from cli.console import expected_errors, out, safe
from cli.options import Pretrained
from cli.render import fits, letters
from zoo.inference.compare import compare as compare_entries
from zoo.inference.foreign import KIND

KINDS = {"foreign": KIND}


def _tables(result: dict, labels: list[str]) -> list[Table]:
    entries = result["entries"]
    summary = Table(title="models")
    for column in ("model", "kind", "test acc", "agreement", "params", "train s", "batch-1 p50 ms"):
        summary.add_column(column, justify="left" if column in ("model", "kind") else "right")
    best = max(e["accuracy"] for e in entries)
    for label, e in zip(labels, entries, strict=True):
        acc = f"{e['accuracy']:.4f}"
        summary.add_row(
            safe(label),
            safe(KINDS.get(e["kind"], e["kind"])),
            f"[bold]{acc}[/]" if e["accuracy"] == best else acc,
            f"{e['agreement']:.2%}" if e.get("agreement") is not None else "-",
            f"{e['num_params']:,}" if e["num_params"] else "-",
            f"{e['train_seconds']:.1f}" if e["train_seconds"] else "-",
            f"{e['latency_ms']:.3f}" if e["latency_ms"] is not None else "-",
        )
    summary.caption = "agreement: test images on which it predicts what the first model predicts"
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
        list[str],
        typer.Argument(
            help="Variants (their latest run), run directories or exports; .onnx files zoo did not export "
            "with --dataset, --mean and --std."
        ),
    ],
    latency: Annotated[bool, typer.Option(help="Measure batch-1 CPU latency of each.")] = True,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the dataset's files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    pretrained: Pretrained = False,
    dataset: foreign.Dataset = None,
    mean: foreign.Mean = None,
    std: foreign.Std = None,
    layout: foreign.Layout = None,
    size: foreign.Size = None,
    class_names: foreign.ClassNames = None,
    preprocessing: foreign.Sidecar = None,
    outputs: foreign.Outputs = None,
) -> None:
    """Compare models side by side on the test set.

    An .onnx file zoo did not export takes part when told how to feed it (the feeding options apply to
    every such file): `zoo compare theirs.onnx artifacts/models/fashion-cnn/t0 --dataset fashion-mnist
    --mean 0.286 --std 0.353`. When an ONNX file takes part, each model's agreement with the first is
    measured on the test set."""
    described = foreign.feeding(dataset, mean, std, layout, size, class_names, preprocessing, outputs)
    result = compare_entries(
        items,
        data_dir=str(data_dir) if data_dir else None,
        measure_latency=latency,
        pretrained=pretrained,
        foreign=described,
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
