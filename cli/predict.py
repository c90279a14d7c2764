"""`zoo predict MODEL.onnx IMAGE...`: classify image files with an exported model."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import foreign
from cli.console import expected_errors, out, safe
from zoo.core.errors import UsageError
from zoo.inference.predict import OnnxClassifier, classify_files
from zoo.inference.shipped import ShippedClassifier
from zoo.weights import store as pretrained


@expected_errors
def predict(
    model: Annotated[
        str,
        typer.Argument(
            help="An exported model.onnx (see `zoo export`), or a variant's name for its shipped model.",
            show_default=False,
        ),
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
    tta: Annotated[
        bool,
        typer.Option(
            "--tta",
            help="With a variant's name: average each image's logits with its mirror's (test-time flips), "
            "as the shipped figure 'with flips' was measured.",
        ),
    ] = False,
    dataset: foreign.Dataset = None,
    mean: foreign.Mean = None,
    std: foreign.Std = None,
    layout: foreign.Layout = None,
    size: foreign.Size = None,
    class_names: foreign.ClassNames = None,
    preprocessing: foreign.Sidecar = None,
    outputs: foreign.Outputs = None,
) -> None:
    """Classify images with an exported ONNX model; resizing and normalisation come from its metadata.

    Any ONNX image classifier too: `zoo predict theirs.onnx shoe.png --dataset fashion-mnist --mean 0.286
    --std 0.353` (the dataset gives the class names and the image shape, --size the model's side)."""
    described = foreign.feeding(dataset, mean, std, layout, size, class_names, preprocessing, outputs)
    if pretrained.names_shipped_model(model):
        if described is not None:
            raise UsageError(
                f"{model} is a shipped model, which says how it is fed; drop the feeding options"
            )
        # the installed package alone: its weights, checked on their reference images; no dataset, no export
        classifier = ShippedClassifier(model, tta=tta)
    else:
        if tta:
            raise UsageError(
                "--tta goes with a variant's name (its shipped weights); an export made with "
                "`zoo export --tta` flips inside its graph already"
            )
        classifier = OnnxClassifier.load(Path(model), preprocessing=described)
    rows = classify_files(classifier, images, invert=invert, top=top)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    meta = classifier.metadata
    c, h, w = classifier.input_shape
    inverted = ", inverted" if invert else ""
    if isinstance(classifier, ShippedClassifier):
        kind = ", shipped weights" + (", with flips" if tta else "")
    else:
        kind = (
            f", foreign ONNX, outputs read as {safe(meta['outputs_read_as'])}" if classifier.foreign else ""
        )
    table = Table(title=f"{safe(meta['model'])} ({safe(meta['dataset'])}, {c:d}x{h:d}x{w:d}{inverted}{kind})")
    table.add_column("image")
    table.add_column("prediction")
    table.add_column("probability", justify="right")
    table.add_column(f"top {top:d}")
    for row in rows:
        best = ", ".join(f"{safe(t['class_name'])} {t['probability']:.3f}" for t in row["top"])
        table.add_row(
            safe(row["path"]), f"[bold]{safe(row['class_name'])}[/]", f"{row['probability']:.4f}", best
        )
    out.print(table)
