"""results.json files as zoo bench writes them, for the tests of their reader and of the report."""

SHA = "ab" * 32


def latency(batch_size: int, p50_ms: float = 0.05) -> dict:
    return {
        "batch_size": batch_size,
        "first_call_ms": 0.9,
        "iterations": 100,
        "p50_ms": p50_ms * batch_size,
        "p90_ms": 0.06 * batch_size,
        "p99_ms": 0.08 * batch_size,
        "mean_ms": 0.055 * batch_size,
        "stdev_ms": 0.01,
        "throughput_ips": 18000.0,
        "speedup_vs_torch_cpu": None,
    }


def measured(runtime: str, *, p50_ms: float = 0.05, **keys) -> dict:
    """A measured row; `keys` replace or add keys (weights_sha256, export, ...)."""
    per_class = {"a": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 5}}
    return {
        "model": "fashion-mlp",
        "export": "/art/models/fashion-mlp/t0",
        "runtime": runtime,
        "variant": "fp32",
        "available": True,
        "provider": "CPUExecutionProvider",
        "threads": 2,
        "load_seconds": 0.01,
        "accuracy": 0.8,
        "log_loss": 0.55,
        "metrics": {
            "accuracy": 0.8,
            "log_loss": 0.55,
            "n": 5,
            "per_class": per_class,
            "macro_avg": per_class["a"],
            "weighted_avg": per_class["a"],
            "confusion_matrix": [[4]],
        },
        "agreement_with_torch_cpu": None,
        "latency": [latency(1, p50_ms), latency(32, p50_ms)],
        **keys,
    }


def old_file() -> dict:
    """What the first zoo.bench/1 writer wrote: no noise, summary, block_cv or export identity."""
    return {
        "schema": "zoo.bench/1",
        "created_at": "2026-01-02T00:00:00+00:00",
        "machine": {"cores": 2, "threads": 2, "cuda": None, "torch": "2.9.0", "onnxruntime": "1.23.0"},
        "options": {
            "batch_sizes": [1, 32],
            "warmup": 10,
            "iters": 100,
            "min_seconds": 1.0,
            "variants": ["fp32"],
        },
        "unavailable": {"torch-cuda": "no CUDA device visible to PyTorch"},
        "results": [
            measured("onnxruntime"),
            {
                "model": "fashion-mlp",
                "export": "/art/models/fashion-mlp/t0",
                "runtime": "onnxruntime",
                "variant": "int8",
                "available": False,
                "reason": "model.int8.onnx is not listed in SHA256SUMS",
            },
        ],
    }
