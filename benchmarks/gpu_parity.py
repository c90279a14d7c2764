"""Parity of one exported run on the GPU and the CPU: the run's PyTorch model on CUDA (fp32 and bf16
autocast) and on the CPU, against its ONNX file in ONNX Runtime, on the whole test set.

    python benchmarks/gpu_parity.py RUN_DIR EXPORT_DIR

Prints one JSON object: per pair, the largest absolute logit difference and the share of images whose
predicted class is the same, and each one's test accuracy."""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.data import Normalizer
from zoo.data.loading import load_raw
from zoo.export.exported import onnx_logits
from zoo.train.checkpoint import load_run
from zoo.train.loop import predict_logits


def torch_logits(model: torch.nn.Module, images: torch.Tensor, mean, std, device: str, bf16: bool = False):
    """The chunked evaluation zoo itself runs (`predict_logits`), on `device`, optionally under bf16
    autocast as training on a GPU uses it."""
    model.to(device)
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        return predict_logits(model, images, Normalizer(mean, std, device=device)).numpy()


def main() -> None:
    run_dir, export_dir = Path(sys.argv[1]), Path(sys.argv[2])
    model, record = load_run(run_dir)
    _, test, _ = load_raw(record.dataset)
    pixels, labels = test.images.numpy(), test.labels.numpy()
    mean, std = record.normalization["mean"], record.normalization["std"]
    session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = {
        "onnxruntime-cpu": onnx_logits(session, pixels, mean, std),
        "torch-cpu": torch_logits(model, test.images, mean, std, "cpu"),
    }
    if torch.cuda.is_available():
        logits["torch-cuda-fp32"] = torch_logits(model, test.images, mean, std, "cuda")
        logits["torch-cuda-bf16"] = torch_logits(model, test.images, mean, std, "cuda", bf16=True)
    reference = logits["onnxruntime-cpu"]
    report = {
        "run": str(run_dir),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
        "accuracy": {k: float((v.argmax(1) == labels).mean()) for k, v in logits.items()},
        "vs_onnxruntime_cpu": {
            k: {
                "max_abs_diff": float(np.abs(v - reference).max()),
                "same_class": float((v.argmax(1) == reference.argmax(1)).mean()),
            }
            for k, v in logits.items()
            if k != "onnxruntime-cpu"
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
