"""classification_metrics by what it computes: for any logits and labels, its figures agree with each other
and with the definitions (accuracy is the confusion matrix's trace over n, a class's recall its diagonal
over its row, log loss the mean negative log-softmax of the true class), computed here independently."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.metrics import classification_metrics


@st.composite
def predictions(draw):
    classes = draw(st.integers(2, 6))
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # small integer logits make ties and classes that are never predicted (or never true) common
    logits = rng.integers(-3, 4, size=(n, classes)).astype(np.float32) * draw(st.sampled_from([0.5, 3.0]))
    labels = rng.integers(0, classes, size=n)
    return torch.from_numpy(logits), torch.from_numpy(labels), [f"c{i}" for i in range(classes)]


@settings(max_examples=80, deadline=None)
@given(predictions())
def test_metrics_agree_with_their_definitions(case):
    logits, labels, names = case
    m = classification_metrics(logits, labels, names)
    y, pred = labels.numpy(), logits.argmax(1).numpy()
    cm = np.asarray(m["confusion_matrix"])
    k = len(names)
    assert cm.shape == (k, k) and cm.sum() == len(y) == m["n"]
    assert all(cm[i, j] == np.sum((y == i) & (pred == j)) for i in range(k) for j in range(k))
    assert m["accuracy"] == pytest.approx(np.trace(cm) / len(y))
    rows = []
    for i, name in enumerate(names):
        row = m["per_class"][name]
        true, predicted, hit = cm[i].sum(), cm[:, i].sum(), cm[i, i]
        precision = hit / predicted if predicted else 0.0
        recall = hit / true if true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row["support"] == true
        assert row["precision"] == pytest.approx(precision, abs=1e-6)
        assert row["recall"] == pytest.approx(recall, abs=1e-6)
        assert row["f1"] == pytest.approx(f1, abs=1e-6)
        rows.append((precision, recall, f1, true))
    rows = np.asarray(rows)
    assert m["macro_avg"]["recall"] == pytest.approx(rows[:, 1].mean(), abs=1e-6)
    assert m["weighted_avg"]["recall"] == pytest.approx(m["accuracy"], abs=1e-6)  # recall weighted by support
    x = logits.double().numpy()
    log_softmax = x - x.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    assert m["log_loss"] == pytest.approx(-log_softmax[np.arange(len(y)), y].mean(), rel=1e-5, abs=1e-6)


def test_no_images_gives_zeros_not_an_error():
    m = classification_metrics(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), ["a", "b", "c"])
    assert m["n"] == 0 and m["accuracy"] == 0.0 and np.asarray(m["confusion_matrix"]).sum() == 0
