"""Classification metrics, wrapping scikit-learn so the numbers match what users compute themselves."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]) -> dict:
    """Accuracy, log loss, per-class precision/recall/F1/support with macro and weighted averages, and
    the confusion matrix (rows: true class, columns: predicted), all JSON-able."""
    # Imported here: scikit-learn pulls in scipy.stats, most of a second that every `zoo` command paid
    # at start-up, also those that never compute a metric.
    from sklearn.metrics import classification_report, confusion_matrix

    y_true = labels.numpy()
    y_pred = logits.argmax(1).numpy()
    indices = list(range(len(class_names)))
    if not len(y_true):  # scikit-learn refuses empty inputs; an empty split has nothing to report
        zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        return {
            "accuracy": 0.0,
            "log_loss": 0.0,
            "n": 0,
            "per_class": {name: dict(zero) for name in class_names},
            "macro_avg": dict(zero),
            "weighted_avg": dict(zero),
            "confusion_matrix": [[0] * len(indices) for _ in indices],
        }
    report = classification_report(
        y_true, y_pred, labels=indices, target_names=list(class_names), output_dict=True, zero_division=0
    )
    per_class = {name: _rounded(report[name]) for name in class_names}
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "log_loss": float(F.cross_entropy(logits, labels).item()),
        "n": len(y_true),
        "per_class": per_class,
        "macro_avg": _rounded(report["macro avg"]),
        "weighted_avg": _rounded(report["weighted avg"]),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=indices).tolist(),
    }


def _rounded(row: dict) -> dict:
    return {
        "precision": round(float(row["precision"]), 6),
        "recall": round(float(row["recall"]), 6),
        "f1": round(float(row["f1-score"]), 6),
        "support": int(row["support"]),
    }
