"""A corpus of hostile exported models: tiny ONNX graphs built with onnx.helper, each a valid ONNX file
that breaks one promise of the exported-model contract (zoo/export/exported.py) in its metadata or its graph.

The graphs are Flatten + Gemm (or GlobalAveragePool first, for inputs too large to hold weights for), so
every file is a few kilobytes and loads in milliseconds, whatever size of input it claims to take.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from zoo.data.lookup import get_dataset_info

FASHION = list(get_dataset_info("fashion-mnist").class_names)


def metadata(**changes: Any) -> dict[str, Any]:
    """The metadata `zoo export` writes for a 28x28 grayscale Fashion-MNIST model, with `changes`."""
    return {
        "zoo.format": "zoo.onnx/1",
        "model": "tiny-linear",
        "dataset": "fashion-mnist",
        "class_names": FASHION,
        "input_name": "images",
        "output_name": "logits",
        "input_shape": [1, 28, 28],
        "mean": [0.286],
        "std": [0.353],
        "weights_sha256": "0" * 64,
        **changes,
    }


def write_model(
    path: Path,
    *,
    outputs: int = 10,
    output_dims: tuple = ("batch", None),
    input_dims: tuple = ("batch", 1, 28, 28),
    features: int | None = None,
    pooled: bool = False,
    fill: float | None = None,
    hidden_width: int | None = None,
    **changes: Any,
) -> Path:
    """A graph with `outputs` logits per image, `input_dims` as its declared input, weights for `features`
    inputs (default: what `input_dims` holds), optionally pooled to one value per channel first, weights
    all `fill` when given; the metadata is `metadata(**changes)`. `None` in `output_dims` is `outputs`.

    `hidden_width` keeps only that many logits, cut at run time by a data-dependent Slice, so that no
    shape inference (ONNX Runtime resolves a symbolic axis it can compute) knows the width beforehand."""
    c = input_dims[1]
    pre = [helper.make_node("GlobalAveragePool", ["images"], ["pooled"])] if pooled else []
    if features is None:
        features = c if pooled else int(np.prod(input_dims[1:]))
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((outputs, features)) * 0.05).astype(np.float32)
    if fill is not None:
        weight[:] = fill
    bias = np.zeros(outputs, np.float32)
    cut, extra = _hidden_slice(hidden_width) if hidden_width else ([], [])
    graph = helper.make_graph(
        [
            *pre,
            helper.make_node("Flatten", ["pooled" if pooled else "images"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "weight", "bias"], ["all" if cut else "logits"], transB=1),
            *cut,
        ],
        "hostile",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_dims))],
        [
            helper.make_tensor_value_info(
                "logits", TensorProto.FLOAT, [outputs if d is None else d for d in output_dims]
            )
        ],
        initializer=[
            numpy_helper.from_array(weight, "weight"),
            numpy_helper.from_array(bias, "bias"),
            *extra,
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    helper.set_model_props(model, {k: json.dumps(v) for k, v in metadata(**changes).items()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _hidden_slice(width: int) -> tuple[list, list]:
    """Nodes and initializers for logits = all[:, :width + 0 * max(flat)]: the end depends on the data."""
    nodes = [
        helper.make_node("ReduceMax", ["flat"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
        helper.make_node("Cast", ["nothing"], ["nothing64"], to=TensorProto.INT64),
        helper.make_node("Add", ["width", "nothing64"], ["ends"]),
        helper.make_node("Slice", ["all", "starts", "ends", "axes"], ["logits"]),
    ]
    constants = {"zero": np.array(0, np.float32), "width": np.array([width]), "starts": np.array([0])}
    constants["axes"] = np.array([1])
    return nodes, [numpy_helper.from_array(value, name) for name, value in constants.items()]
