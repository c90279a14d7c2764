"""The options that say how to feed an ONNX file zoo did not export (zoo.inference.foreign), shared by `zoo
bench`,
`zoo compare` and `zoo predict`, and their parsing into one `Preprocessing`."""

from pathlib import Path
from typing import Annotated

import typer

from zoo.core.errors import UsageError
from zoo.core.images import parse_size
from zoo.inference.foreign import KEYS, Preprocessing, preprocessing

PANEL = "Models zoo did not make (an .onnx file without zoo's metadata)"

Dataset = Annotated[
    str | None,
    typer.Option(
        help="The dataset whose test set and labels the file runs on (for predict: its class names and "
        "image shape).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
# No default for --mean and --std (zoo.inference.foreign.require says why): a wrong normalisation gives a
# plausible,
# wrong accuracy rather than an error.
Mean = Annotated[
    str | None,
    typer.Option(
        help="Per-channel mean the model subtracts, on the 0..1 pixel scale: one number for every channel or "
        "comma-separated (0.286; 0.485,0.456,0.406). Required: a model's normalisation is its own "
        "(--mean 0 --std 1 feeds pixels / 255).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Std = Annotated[
    str | None,
    typer.Option(
        help="Per-channel std the model divides by, on the 0..1 pixel scale (0.353; 0.229,0.224,0.225). "
        "Required.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Layout = Annotated[
    str | None,
    typer.Option(
        help="The input's layout: nchw (batch, channels, height, width; the default) or nhwc (Keras, "
        "TensorFlow).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Size = Annotated[
    str | None,
    typer.Option(
        help="The model's input size, HxW (48x192) or N for N x N: the dataset's images are resized to it "
        "(Pillow, bilinear, antialiased), as predict resizes image files. Required when the graph's height "
        "or width is symbolic (any size).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
ClassNames = Annotated[
    str | None,
    typer.Option(
        help="The dataset class of each of the model's outputs, in output order, comma-separated (default: "
        "the dataset's order). Class names with commas: use --preprocessing.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Outputs = Annotated[
    str | None,
    typer.Option(
        help="What the model's outputs are: logits, probabilities or log-probabilities. Default auto: "
        "probabilities when the graph ends in Softmax, log-probabilities after LogSoftmax, else logits.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Sidecar = Annotated[
    Path | None,
    typer.Option(
        "--preprocessing",
        help=f"A JSON object with the same keys ({', '.join(KEYS)}); the options above override it.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]


def _numbers(text: str | None, name: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",")]
    except ValueError:
        raise UsageError(
            f"{name} takes one number or one per channel, comma-separated (0.286 or 0.485,0.456,0.406); "
            f"got {text!r}"
        ) from None


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",")]
    if not all(names):
        raise UsageError(f"--class-names takes class names separated by commas, none empty; got {text!r}")
    return names


def feeding(
    dataset: str | None,
    mean: str | None,
    std: str | None,
    layout: str | None,
    size: str | None,
    class_names: str | None,
    sidecar: Path | None,
    outputs: str | None = None,
) -> Preprocessing | None:
    """What the options and the sidecar say; None when nothing was said (the file is a zoo export)."""
    return preprocessing(
        sidecar,
        dataset=dataset,
        mean=_numbers(mean, "--mean"),
        std=_numbers(std, "--std"),
        layout=layout,
        size=None if size is None else list(parse_size(size, "--size")),
        class_names=_names(class_names),
        outputs=outputs,
    )
