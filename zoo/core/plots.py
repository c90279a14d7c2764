"""Plotting primitives every layer may use: a figure as PNG bytes, user text drawn literally, the
confusion matrix (bench and reports draw the same one). Matplotlib's Agg backend, no pyplot state."""

import io
import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: reports run on servers and in CI

import numpy as np
from matplotlib.figure import Figure

DPI = 100


def literal(text: str) -> str:
    """User text (class names) as matplotlib shows it literally: a `$` is not the start of a formula
    (an unclosed or unknown one would make the whole figure fail)."""
    return str(text).replace("$", r"\$")


def to_png(fig) -> bytes:
    """`fig` as PNG bytes. A character no installed font has (a Chinese class name on a machine with
    DejaVu only) is drawn as a box; matplotlib's warning about it, one per glyph with its source line, is
    not for the user's terminal: the page's tables print the names as text."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .*missing from (current )?font", category=UserWarning
        )
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "Confusion matrix (test set)"
) -> bytes:
    cm = np.asarray(matrix)
    n = len(class_names)
    size = max(5.0, 0.6 * n + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    labels = [literal(name) for name in class_names]
    ax.set_xticks(range(n), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if cm[i, j] > threshold else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_title(literal(title))
    return to_png(fig)
