"""`zoo predict NAME`: a shipped model as predict's classifier, from the installed package alone.

The PyTorch weights (zoo.weights.store), checked once on their reference images (zoo.weights.use), fed as
`pretrained_transforms` says: no dataset, no export, no network.
"""

from typing import Any

import numpy as np
import torch

from zoo.data.batches import Normalizer
from zoo.inference.predict import Prediction, to_nchw
from zoo.models.layers import FlipAveraged
from zoo.train.checkpoint import load_run
from zoo.train.loop import predict_logits
from zoo.weights.store import locate, shipped_weights
from zoo.weights.use import REFERENCE_STEP_AT_PREDICT, check_reference, transforms_of


class ShippedClassifier:
    """`zoo predict NAME`: a shipped model as predict's classifier (the interface of OnnxClassifier that
    classify_files and the CLI use), checked against its reference images once, when loaded."""

    def __init__(self, name: str, *, tta: bool = False) -> None:
        folder = locate(name).folder
        model, record = load_run(folder)
        if shipped_weights(name).reference_sha256:  # weights shipped with reference images: checked
            check_reference(name, model, record, folder, step=REFERENCE_STEP_AT_PREDICT)
        self._model = FlipAveraged(model) if tta else model
        self.path = folder
        self.transforms = transforms_of(name, record)  # the record loaded above: no second lookup
        self.class_names: list[str] = list(record.class_names)
        self.input_shape: tuple[int, int, int] = self.transforms.input_shape
        self.resize = self.transforms.resize
        self.metadata: dict[str, Any] = {
            "model": name,
            "dataset": record.dataset,
            "class_names": self.class_names,
        }

    foreign = False

    def classify(self, images: np.ndarray):
        pixels = torch.from_numpy(np.ascontiguousarray(to_nchw(images, self.input_shape)))
        with torch.inference_mode():
            logits = predict_logits(
                self._model, pixels, Normalizer(self.transforms.mean, self.transforms.std)
            )
        logits = logits.numpy().astype(np.float32)
        labels = logits.argmax(axis=1).astype(np.int64)
        return Prediction(
            labels=labels,
            names=[self.class_names[i] for i in labels],
            probabilities=torch.softmax(torch.from_numpy(logits), 1).numpy(),
            logits=logits,
            class_names=self.class_names,
        )
