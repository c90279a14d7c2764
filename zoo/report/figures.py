"""Matplotlib figures of one run, each returned as PNG bytes.

Figures are built on `matplotlib.figure.Figure` objects rather than pyplot, so no global figure state
leaks between reports; the Agg backend is still selected because Optuna's plots go through pyplot."""

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: reports run on servers and in CI

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

# The primitives every figure uses, in the base layer so that bench draws its confusion matrix too
from zoo.core.plots import DPI, confusion_matrix, to_png  # noqa: F401
from zoo.core.plots import literal as _literal


def _show_image(ax, image: torch.Tensor) -> None:
    """One uint8 (C, H, W) image: greyscale for one channel, RGB for three."""
    array = image.numpy()
    if array.shape[0] == 1:
        ax.imshow(array[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.transpose(array, (1, 2, 0)))
    ax.set_xticks([])
    ax.set_yticks([])


def learning_curves(history: Sequence[dict]) -> bytes:
    fig = Figure(figsize=(10, 3.8))
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [h["epoch"] for h in history]
    for ax, metric in ((loss_ax, "loss"), (acc_ax, "acc")):
        for split in ("train", "val"):
            # val_* is missing or None when the run kept no validation split
            points = [(e, h.get(f"{split}_{metric}")) for e, h in zip(epochs, history, strict=True)]
            points = [(e, v) for e, v in points if v is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if metric == "loss" else "accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    loss_ax.set_title("Loss")
    acc_ax.set_title("Accuracy")
    return to_png(fig)


def confused_pairs(matrix: Sequence[Sequence[int]], class_names: Sequence[str], top: int = 5) -> list[str]:
    """The largest off-diagonal cells, in words: "Shirt predicted as T-shirt/top: 112"."""
    cells = [
        (count, i, j) for i, row in enumerate(matrix) for j, count in enumerate(row) if i != j and count > 0
    ]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [f"{class_names[i]} predicted as {class_names[j]}: {count}" for count, i, j in cells[:top]]


def _grid(n: int, max_cols: int = 8) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def first_conv_filters(conv: nn.Conv2d) -> bytes:
    """Each output filter of the first conv layer; RGB when it reads three channels, else the channel mean."""
    weight = conv.weight.detach().float().cpu()
    out_channels = weight.shape[0]
    rows, cols = _grid(out_channels)
    fig = Figure(figsize=(cols * 1.1, rows * 1.1 + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= out_channels:
            continue
        w = weight[k]
        if w.shape[0] == 3:
            # scale each filter to [0, 1] so its colours are visible
            w = (w - w.min()) / (w.max() - w.min() + 1e-8)
            ax.imshow(w.permute(1, 2, 0).numpy())
        else:
            ax.imshow(w.mean(0).numpy(), cmap="coolwarm")
    fig.suptitle(f"First conv layer: {out_channels} filters of {tuple(weight.shape[1:])}")
    return to_png(fig)


@torch.inference_mode()
def block_outputs(model: nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """The output of every block of `model.features` for one normalised image (1, C, H, W), via hooks."""
    outputs: list[torch.Tensor] = []
    handles = [
        block.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach().float().cpu()))
        for block in model.features
    ]
    try:
        model.eval()
        model(image)
    finally:
        for h in handles:
            h.remove()
    return outputs


def feature_maps(image: torch.Tensor, outputs: list[torch.Tensor], max_channels: int = 16) -> bytes:
    """The input image, then up to `max_channels` channels of each conv block's output, one row per block."""
    cols = max_channels
    fig = Figure(figsize=(cols * 0.9, (len(outputs) + 1) * 1.1 + 0.4))
    axes = np.atleast_2d(fig.subplots(len(outputs) + 1, cols))
    for ax in axes.ravel():
        ax.set_axis_off()
    _show_image(axes[0, 0], image)
    axes[0, 0].set_title("input", fontsize=8)
    for row, out in enumerate(outputs, start=1):
        maps = out[0]
        for c in range(min(max_channels, maps.shape[0])):
            axes[row, c].imshow(maps[c].numpy(), cmap="viridis")
        axes[row, 0].set_title(f"block {row}: {tuple(maps.shape)}", fontsize=8, loc="left")
    fig.suptitle("Feature maps after each conv block")
    return to_png(fig)


def examples(
    images: torch.Tensor, labels: Sequence[int], preds: Sequence[int], class_names: Sequence[str], title: str
) -> bytes:
    n = len(images)
    rows, cols = _grid(n)
    fig = Figure(figsize=(cols * 1.5, rows * 1.75 + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        _show_image(ax, images[k])
        ok = labels[k] == preds[k]
        ax.set_title(
            f"true: {_literal(class_names[labels[k]])}\npred: {_literal(class_names[preds[k]])}",
            fontsize=7,
            color="green" if ok else "red",
        )
    fig.suptitle(_literal(title))
    return to_png(fig)


def weight_histograms(model: nn.Module) -> bytes:
    """Each Conv2d/Linear layer's weights and biases. Each histogram is one filled outline ("stepfilled":
    what touching bars look like) rather than a patch per bin, which made this the slowest figure."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    fig = Figure(figsize=(9, 2.2 * len(layers) + 0.4))
    axes = np.atleast_2d(fig.subplots(len(layers), 2))
    for (name, layer), (w_ax, b_ax) in zip(layers, axes, strict=True):
        kind = type(layer).__name__
        weights = layer.weight.detach().float().cpu().numpy().ravel()
        w_ax.hist(weights, bins=50, color="tab:blue", histtype="stepfilled")
        w_ax.set_title(f"{name} ({kind}) weights", fontsize=9)
        if layer.bias is not None:
            biases = layer.bias.detach().float().cpu().numpy().ravel()
            b_ax.hist(biases, bins=30, color="tab:orange", histtype="stepfilled")
            b_ax.set_title(f"{name} ({kind}) biases", fontsize=9)
        else:
            b_ax.set_axis_off()
            b_ax.text(0.5, 0.5, "no bias", ha="center", va="center")
    fig.tight_layout()
    return to_png(fig)


def _by_batch(ax, series: dict[str, list[tuple[int, float]]], ylabel: str, title: str) -> None:
    for label, points in sorted(series.items()):
        points = sorted(points)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=_literal(label))
    # log-log: batch 1 sits at 50 µs and batch 256 at tens of ms, a linear axis puts every small point on 0
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.set_title(_literal(title))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def lines_by_batch_size(series: dict[str, list[tuple[int, float]]], ylabel: str, title: str) -> bytes:
    """One line per label (runtime/variant) over batch size, both axes log-scaled: the bench charts."""
    fig = Figure(figsize=(7, 4))
    _by_batch(fig.subplots(), series, ylabel, title)
    return to_png(fig)


def latency_panels(p50_ms: dict[str, list[tuple[int, float]]], title: str) -> bytes:
    """p50 latency per batch and per image (the batch's latency over its size), log-log, side by side."""
    per_image = {label: [(b, ms * 1000 / b) for b, ms in points] for label, points in p50_ms.items()}
    fig = Figure(figsize=(12, 4))
    batch_ax, image_ax = fig.subplots(1, 2)
    _by_batch(batch_ax, p50_ms, "p50 latency per batch (ms)", f"{title}: per batch")
    _by_batch(image_ax, per_image, "p50 latency per image (µs)", f"{title}: per image")
    return to_png(fig)
