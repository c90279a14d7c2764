"""Post-training int8 quantization of an exported ONNX model: the recipes zoo knows and how to build each.

Every recipe writes an ONNX file with the fp32 model's input and output, calibrated on training images
(never test images). ONNX Runtime's recipes differ in format (QDQ: QuantizeLinear/DequantizeLinear pairs
that a runtime fuses; QOperator: QLinearConv and friends), weight granularity (per channel or per tensor)
and types (S8S8: int8 activations and weights; U8S8: uint8 activations). NNCF (OpenVINO's quantizer,
the `openvino` extra) writes QDQ ONNX too, placing the pairs where OpenVINO's int8 kernels want them, so
its file runs in both runtimes. `benchmarks/int8_options.py` measures them all side by side; which one
`zoo export --int8` writes is chosen by `choose` (see README, "Which runtime").
"""

import contextlib
import importlib.util
import io
import logging
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import UsageError
from zoo.export.exported import INPUT


@dataclass(frozen=True)
class Int8Recipe:
    name: str
    tool: str  # "onnxruntime" or "nncf"
    quant_format: str = "QDQ"  # QDQ or QOperator (onnxruntime only; NNCF always writes QDQ)
    per_channel: bool = True
    activations: str = "int8"  # int8 or uint8
    weights: str = "int8"

    def describe(self) -> str:
        if self.tool == "nncf":
            return "NNCF post-training quantization (QDQ, symmetric, per-channel weights)"
        grain = "per-channel" if self.per_channel else "per-tensor"
        types = ("S8" if self.activations == "int8" else "U8") + "S8"
        return f"onnxruntime static {self.quant_format}, {grain} weights, {types}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}


RECIPES = {
    r.name: r
    for r in (
        Int8Recipe("ort-qdq-pc-s8s8", "onnxruntime"),
        Int8Recipe("ort-qdq-pt-s8s8", "onnxruntime", per_channel=False),
        Int8Recipe("ort-qdq-pc-u8s8", "onnxruntime", activations="uint8"),
        Int8Recipe("ort-qop-pc-u8s8", "onnxruntime", quant_format="QOperator", activations="uint8"),
        Int8Recipe("ort-qop-pc-s8s8", "onnxruntime", quant_format="QOperator"),
        Int8Recipe(
            "ort-qop-pt-u8s8", "onnxruntime", quant_format="QOperator", per_channel=False, activations="uint8"
        ),
        Int8Recipe("nncf", "nncf"),
    )
}


DEFAULT_WITHOUT_NNCF = "ort-qdq-pc-u8s8"


def default_recipe() -> str:
    """NNCF's QDQ where the `openvino` extra is installed, else onnxruntime's per-channel U8S8 QDQ.

    Measured side by side (benchmarks/RESULTS.md, "int8 options", fashion-cnn-fast and fashion-resnet):
    NNCF's file is the fastest int8 in OpenVINO (1.9x and 3.6x onnxruntime fp32 at batch 256), the
    fastest int8 anywhere; without OpenVINO, per-channel U8S8 QDQ was onnxruntime's best recipe that also
    loads in OpenVINO (1.24x and 1.59x; QOperator files were as fast but do not load in OpenVINO)."""
    try:
        found = importlib.util.find_spec("nncf") is not None
    except ValueError:  # blocked in sys.modules
        found = False
    return "nncf" if found else DEFAULT_WITHOUT_NNCF


def get_recipe(name: str) -> Int8Recipe:
    if name not in RECIPES:
        raise UsageError(f"unknown int8 recipe {name!r}; choose from: {', '.join(RECIPES)}")
    return RECIPES[name]


def calibration_images(train_images: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` normalised training images drawn without replacement, the same for a given seed."""
    pick = np.random.default_rng(seed).permutation(len(train_images))[:count]
    return np.ascontiguousarray(train_images[np.sort(pick)])


def build(recipe: Int8Recipe, src: Path, dst: Path, calibration: np.ndarray, workdir: Path) -> None:
    """Quantize the fp32 ONNX `src` into `dst` with `recipe`, calibrated on `calibration` (normalised
    float32 NCHW images). `workdir` holds intermediate files; they are removed."""
    builders: dict[str, Callable[..., None]] = {"onnxruntime": _onnxruntime, "nncf": _nncf}
    builders[recipe.tool](recipe, src, dst, calibration, workdir)


def activation_types(path: Path) -> dict[str, Any]:
    """What a quantized file holds, whatever its recipe asked for: the type of the zero point of each
    QuantizeLinear node (the type its activations are quantized to), counted per type, and `activations`:
    that one type, "mixed" (NNCF quantizes the outputs of non-negative ops to uint8 and the rest to int8)
    or "none"."""
    import onnx

    model = onnx.load(str(path))
    types = {t.name: t.data_type for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                types[node.output[0]] = value.data_type
    counts: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear":
            continue
        zero_point = node.input[2] if len(node.input) > 2 else ""
        if zero_point:
            dtype = types.get(zero_point)
        else:  # no zero point: the output type is the `output_dtype` attribute, by default uint8
            given = (a.i for a in node.attribute if a.name == "output_dtype" and a.i)
            dtype = next(given, onnx.TensorProto.UINT8)
        counts[onnx.TensorProto.DataType.Name(dtype).lower() if dtype is not None else "unknown"] += 1
    found = sorted(counts)
    activations = found[0] if len(found) == 1 else "mixed" if found else "none"
    return {"activations": activations, "activation_zero_points": dict(sorted(counts.items()))}


def _onnxruntime(recipe: Int8Recipe, src: Path, dst: Path, calibration: np.ndarray, workdir: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self, images: np.ndarray, batch_size: int = 64):
            self._batches = iter(
                [{INPUT: images[i : i + batch_size]} for i in range(0, len(images), batch_size)]
            )

        def get_next(self):
            return next(self._batches, None)

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    prepared = workdir / "prepared.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(dst),
            Batches(calibration),
            quant_format=QuantFormat.QDQ if recipe.quant_format == "QDQ" else QuantFormat.QOperator,
            per_channel=recipe.per_channel,
            activation_type=types[recipe.activations],
            weight_type=types[recipe.weights],
        )
    prepared.unlink(missing_ok=True)


def _nncf(recipe: Int8Recipe, src: Path, dst: Path, calibration: np.ndarray, workdir: Path) -> None:
    import onnx

    from zoo.core.openvino import block_telemetry

    block_telemetry()
    # NNCF imports torch's C++ extension loader, which logs a CUDA warning on machines without CUDA.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import nncf
    except ImportError:
        from zoo.core.openvino import INSTALL_HINT, OpenVINOUnavailable

        raise OpenVINOUnavailable(f"NNCF is not installed ({INSTALL_HINT})") from None
    dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))], lambda x: {INPUT: x})
    nncf.set_log_level(logging.ERROR)
    # NNCF draws rich progress bars on stdout, which must stay pure JSON under --json.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(
            onnx.load(str(src)),
            dataset,
            preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(calibration),
        )
    onnx.save(quantized, str(dst))
