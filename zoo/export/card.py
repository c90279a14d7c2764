"""A model card (Markdown) for an exported model: what it is, data, metrics, and how to run it."""

from collections.abc import Sequence
from typing import Any

from zoo.train.checkpoint import RunRecord, SplitMetrics


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _about(record: RunRecord, metadata: dict[str, Any]) -> list[str]:
    """The title, what the model is, and the data it learned from."""
    c, h, w = record.input_shape
    return [
        f"# {record.model}",
        "",
        f"A {record.family.upper()} image classifier for **{record.dataset}** "
        f"({len(record.class_names)} classes, {c}x{h}x{w} inputs), {record.num_params:,} parameters, "
        "exported by zoo "
        f"{metadata['versions']['zoo']} on {metadata['created_at']}.",
        "",
        "## Data",
        "",
        f"- Training: {record.data['n_train']:,} images; validation {record.data['n_val']:,} "
        f"(stratified {record.data['val_fraction']:.0%} split, seed {record.data['split_seed']}); "
        f"test {record.data['n_test']:,} (used once, for the figures below).",
        f"- Data fingerprint (sha256 of the official images and labels): `{record.data['sha256'][:16]}…`",
        f"- Preprocessing: `{metadata['preprocessing']}`, mean {_fmt(metadata['mean'])}, "
        f"std {_fmt(metadata['std'])}.",
        f"- Classes: {', '.join(record.class_names)}.",
        "",
    ]


def _metrics(record: RunRecord, parity: dict[str, Any]) -> list[str]:
    """The recorded accuracies, then how far each ONNX file is from the PyTorch model."""
    lines = ["## Metrics", "", "| split | accuracy | log loss | images |", "| --- | ---: | ---: | ---: |"]
    for name, m in (("validation", record.val_metrics), ("test", record.test_metrics)):
        if m:
            lines.append(f"| {name} | {m['accuracy']:.4f} | {m['log_loss']:.4f} | {m['n']:,} |")
    fp32 = parity["fp32"]
    lines += [
        "",
        f"ONNX Runtime against PyTorch on the {fp32['images']:,} test images: argmax agreement "
        f"{fp32['argmax_agreement']:.4%}, max |Δlogit| {fp32['max_abs_logit_diff']:.2e}, accuracy "
        f"{fp32['accuracy_onnx']:.4f} (PyTorch {fp32['accuracy_torch']:.4f}).",
    ]
    if "int8" in parity:
        activations = parity["int8"].get("activations")
        lines.append(
            f"int8 (`model.int8.onnx`): accuracy {parity['int8']['accuracy']:.4f} "
            f"({parity['int8']['drop_points']:+.2f} points lost against fp32)"
            + (f"; activations quantized to {activations}." if activations else ".")
        )
    if "fp16" in parity:
        lines.append(
            f"fp16 (`model.fp16.onnx`): argmax agreement {parity['fp16']['argmax_agreement']:.4%}, "
            f"accuracy {parity['fp16']['accuracy_onnx']:.4f}."
        )
    return lines


def _per_class(test: SplitMetrics | None) -> list[str]:
    if not test:
        return []
    lines = [
        "",
        "### Per class (test)",
        "",
        "| class | precision | recall | F1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in test["per_class"].items():
        lines.append(
            f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |"
        )
    return lines


def _hyperparameters(record: RunRecord, metadata: dict[str, Any]) -> list[str]:
    lines = ["", "## Hyperparameters", "", "| key | value |", "| --- | --- |"]
    for key, value in {**record.hyperparameters, **record.train_config}.items():
        lines.append(f"| {key} | {_fmt(value)} |")
    if metadata.get("study"):
        lines += ["", f"From study `{metadata['study']}`, trial {metadata['trial']}."]
    return lines


def _how_to_run(input_shape: Sequence[int]) -> list[str]:
    """Plain onnxruntime code that needs nothing of zoo, and where clients without metadata_props look."""
    c, h, w = input_shape
    return [
        "",
        "## Run it with plain onnxruntime",
        "",
        "```python",
        "import json, numpy as np, onnxruntime as ort",
        'session = ort.InferenceSession("model.onnx")  # in the export folder',
        "meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}",
        "mean = np.array(meta['mean'], np.float32).reshape(1, -1, 1, 1)",
        "std = np.array(meta['std'], np.float32).reshape(1, -1, 1, 1)",
        f"pixels = np.zeros((1, {c}, {h}, {w}), np.uint8)  # your uint8 images, NCHW",
        "x = (pixels / 255.0 - mean) / std",
        "logits = session.run(['logits'], {'images': x.astype(np.float32)})[0]",
        "print([meta['class_names'][i] for i in logits.argmax(1)])",
        "```",
        "",
        "Or with zoo: `zoo predict model.onnx image.png`.",
        "",
        "Clients that cannot read `metadata_props` (onnxruntime-web) find the same metadata in `model.json`",
        "beside the file (`model.int8.json`, `model.fp16.json` for the variants). Its `image_preprocessing`",
        "says how zoo turns a photo into the input: orientation, colour conversion, resize (filter, and "
        "whether another aspect ratio is stretched, padded or cropped), when to",
        "invert (the training images' polarity) and the normalisation.",
        "",
    ]


def model_card(record: RunRecord, metadata: dict[str, Any], parity: dict[str, Any]) -> str:
    """The card's Markdown: about the model and its data, metrics and parity, per-class figures,
    hyperparameters, and how to run the file without zoo."""
    lines = _about(record, metadata)
    lines += _metrics(record, parity)
    lines += _per_class(record.test_metrics)
    lines += _hyperparameters(record, metadata)
    lines += _how_to_run(record.input_shape)
    return "\n".join(lines)
