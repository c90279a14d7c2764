"""`zoo predict MODEL.onnx IMAGE...`: classify image files with an exported model."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import expected_errors, out
from zoo.predict import OnnxClassifier, classify_files


@expected_errors
def predict(
    model: Annotated[
        Path, typer.Argument(help="An exported model.onnx (see `zoo export`).", show_default=False)
    ],
    images: Annotated[
        list[Path], typer.Argument(help="Image files (PNG, JPEG, anything PIL reads).", show_default=False)
    ],
    top: Annotated[int, typer.Option(min=1, help="How many of the most probable classes to list.")] = 3,
    invert: Annotated[
        bool,
        typer.Option(
            "--invert",
            help="Invert pixels: for dark objects on a white background (the datasets are light on black).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the predictions as JSON on stdout.")] = False,
) -> None:
    """Classify images with an exported ONNX model; resizing and normalisation come from its metadata."""
    classifier = OnnxClassifier.load(model)
    rows = classify_files(classifier, images, invert=invert, top=top)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    meta = classifier.metadata
    c, h, w = classifier.input_shape
    table = Table(title=f"{meta['model']} ({meta['dataset']}, {c}x{h}x{w}{', inverted' if invert else ''})")
    table.add_column("image")
    table.add_column("prediction")
    table.add_column("probability", justify="right")
    table.add_column(f"top {top}")
    for row in rows:
        best = ", ".join(f"{escape(t['class_name'])} {t['probability']:.3f}" for t in row["top"])
        table.add_row(
            escape(row["path"]), f"[bold]{escape(row['class_name'])}[/]", f"{row['probability']:.4f}", best
        )
    out.print(table)
