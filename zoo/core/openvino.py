"""OpenVINO, an optional CPU runtime (`pip install 'zoo[openvino]'`).

It compiles the same `model.onnx` zoo exports, at f32 or bf16 inference precision, and runs an int8
ONNX (QDQ) as int8. The performance hint is LATENCY (one stream, every thread on one request): zoo times
synchronous calls, where THROUGHPUT's several streams would sit idle.

Nothing zoo runs may reach the network. OpenVINO's tools and NNCF ship a telemetry client,
`openvino_telemetry`, which NNCF turns on without asking. `block_telemetry()` runs before either package
is imported: with `sys.modules["openvino_telemetry"] = None` every import of it fails, and both packages
fall back to the no-op stub they keep for machines without it.
"""

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError, first_line

TELEMETRY_MODULE = "openvino_telemetry"
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # zoo's variant name -> OpenVINO inference precision
PERFORMANCE_HINT = "LATENCY"
INSTALL_HINT = "pip install 'zoo[openvino]'"


class OpenVINOUnavailable(ZooError):
    """OpenVINO is not installed, or cannot run what was asked on this machine."""


def block_telemetry() -> None:
    """Make `import openvino_telemetry` fail for this process (see the module docstring)."""
    sys.modules[TELEMETRY_MODULE] = None


def import_openvino():
    block_telemetry()
    try:
        import openvino
    except ImportError:
        raise OpenVINOUnavailable(f"OpenVINO is not installed ({INSTALL_HINT})") from None
    return openvino


def availability() -> tuple[bool, str]:
    """(available, reason when not)."""
    try:
        import_openvino()
    except OpenVINOUnavailable as exc:
        return False, str(exc)
    return True, ""


def _core():
    return import_openvino().Core()


def precision_unsupported(precision: str) -> str | None:
    """Why this CPU cannot run `precision` ("fp32", "bf16", "int8"), or None when it can."""
    core = _core()
    capabilities = set(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    needed = {"fp32": "FP32", "bf16": "BF16", "int8": "INT8"}[precision]
    if needed in capabilities:
        return None
    have = ", ".join(sorted(capabilities)) or "none"
    return f"this CPU has no {precision} support in OpenVINO (its capabilities: {have})"


def versions() -> dict[str, str]:
    ov = import_openvino()
    return {"openvino": ov.__version__.split("-")[0]}


def error_summary(exc: BaseException) -> str:
    """The informative part of an OpenVINO error: its summary, not the C++ source locations before it."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip(" -")]
    if "Summary:" in lines:
        return "; ".join(lines[lines.index("Summary:") + 1 :])
    told = [line for line in lines if not line.startswith(("Exception from", "Check '"))]
    return told[0] if told else first_line(exc)


class CompiledModel:
    """One compiled model and one infer request: normalised float32 NCHW -> logits (a copy)."""

    def __init__(self, path: Path, precision: str, threads: int):
        core = _core()
        reason = precision_unsupported("bf16" if precision == "bf16" else "fp32")
        if reason:
            raise OpenVINOUnavailable(reason)
        started = time.perf_counter()
        try:
            model = core.read_model(str(path))
            self._compiled = core.compile_model(
                model,
                "CPU",
                {
                    "INFERENCE_PRECISION_HINT": PRECISIONS.get(precision, "f32"),
                    "PERFORMANCE_HINT": PERFORMANCE_HINT,
                    "INFERENCE_NUM_THREADS": threads,
                },
            )
        except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses with C++ traces
            raise OpenVINOUnavailable(f"OpenVINO cannot compile {path.name}: {error_summary(exc)}") from None
        self.load_seconds = time.perf_counter() - started
        self._request = self._compiled.create_infer_request()
        self.threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS"))
        self.precision = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.settings: dict[str, Any] = {
            "performance_hint": PERFORMANCE_HINT,
            "inference_precision": self.precision,
            "streams": int(self._compiled.get_property("NUM_STREAMS")),
        }

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._request.infer({0: x})
        return self._request.get_output_tensor(0).data.copy()
