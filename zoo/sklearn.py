"""`ZooClassifier`: any registered variant as a scikit-learn estimator (GridSearchCV, cross_val_score).

Inputs are raw pixels, as numbers 0..255 (uint8 or float, rounded to the nearest integer; a value outside
0..255 is a ValueError, never clipped), shaped like the variant's dataset (a preset's own, or `dataset=`
for a dataset-agnostic variant such as `ZooClassifier("cnn", dataset="cifar10")`): for a 28x28 grayscale
model (N, 28, 28), (N, 784) or (N, 1, 28, 28). Labels may be any values; the network gets one output per
distinct label seen in `fit`. Training is zoo's own loop (`zoo.train.loop.fit`).
"""

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from zoo.data import DataSplits, Normalizer, Split, get_dataset_info
from zoo.data.splits import channel_stats, stratified_split
from zoo.models.registry import get_spec, input_shape_of, resolve_dataset
from zoo.train.config import TRAIN_KEYS, resolve
from zoo.train.loop import fit, predict_logits

_FIXED = ("model", "epochs", "lr", "batch_size", "val_fraction", "seed", "device", "dataset")


class ZooClassifier(ClassifierMixin, BaseEstimator):
    """Mixins before BaseEstimator, tags through `__sklearn_tags__`: what scikit-learn ≥ 1.6 requires.

    Extra keyword arguments are hyperparameters of the variant or TrainConfig fields (`dropout=0.3`,
    `optimizer="sgd"`); they take part in get_params/set_params, so GridSearchCV can search them."""

    def __init__(
        self,
        model: str = "fashion-cnn",
        epochs: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        val_fraction: float | None = None,
        seed: int = 0,
        device: str = "cpu",
        dataset: str | None = None,
        **hparams: Any,
    ):
        self.model = model
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device
        self.dataset = dataset
        self._hparam_names = sorted(hparams)
        for key, value in hparams.items():
            setattr(self, key, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._hparam_names})
        return params

    def set_params(self, **params):
        """Also accepts any hyperparameter of the variant, so GridSearchCV can search knobs the
        estimator was not constructed with (`{"dropout": [0, 0.3]}`)."""
        try:  # validation belongs in fit; set_params must accept whatever it is given
            spec = get_spec(params.get("model", self.model))
            known = set(spec.hparams) | TRAIN_KEYS
        except Exception:
            known = set()
        for key in params:
            if key not in _FIXED and key not in self._hparam_names and key in known:
                self._hparam_names = sorted([*self._hparam_names, key])
                setattr(self, key, params[key])
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.non_deterministic = self.device != "cpu"
        return tags

    # ------------------------------------------------------------------------------------------ helpers

    def _overrides(self) -> dict[str, Any]:
        values = {k: getattr(self, k) for k in ("epochs", "lr", "batch_size") if getattr(self, k) is not None}
        values.update({k: getattr(self, k) for k in self._hparam_names})
        values.update(val_fraction=self._val_fraction(values), seed=self.seed, device=self.device)
        return values

    def _val_fraction(self, values: dict[str, Any]) -> float:
        """`val_fraction=None`: the recipe's own split where its recipe stops early on it (fashion-mlp4,
        fashion-cnn3: patience 10 on 20%), else none, so every image given to `fit` trains the model."""
        if self.val_fraction is not None:
            return self.val_fraction
        recipe_values = {k: v for k, v in values.items() if k != "val_fraction"}
        _, recipe = resolve(get_spec(self.model), recipe_values, self.dataset)
        return recipe.val_fraction if recipe.patience else 0.0

    def _images(self, X, *, reset: bool) -> torch.Tensor:
        # flatten first, so n_features_in_ is the pixel count whatever layout each call uses
        X = check_array(X, allow_nd=True, dtype=None, ensure_min_samples=2 if reset else 1)
        X = validate_data(self, X.reshape(len(X), -1), reset=reset, dtype=None)
        spec = get_spec(self.model)
        shape = input_shape_of(spec, self.dataset)
        per_image = int(np.prod(shape))
        if X.shape[1] != per_image:
            who = f"{self.model} on {resolve_dataset(spec, self.dataset)}" if self.dataset else self.model
            raise ValueError(
                f"{who} takes images of {per_image} pixels {shape}; got n_features = {X.shape[1]}"
            )
        values = np.asarray(X, dtype=np.float64)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if low < 0 or high > 255:  # clipping would change the images without a word
            raise ValueError(
                f"{self.model} takes raw pixels in the range 0..255; got values from {low:g} to {high:g}"
            )
        pixels = np.rint(values).astype(np.uint8)
        return torch.from_numpy(pixels.reshape(len(X), *shape).copy())

    # ------------------------------------------------------------------------------------------ API

    def fit(self, X, y):
        spec = get_spec(self.model)
        if y is None:
            raise ValueError("ZooClassifier requires y to be passed, but the target y is None")
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(np.ravel(y))
        if len(self._encoder.classes_) < 2:
            raise ValueError("ZooClassifier needs at least 2 classes in y; got 1 class")
        images = self._images(X, reset=True)
        self.classes_ = self._encoder.classes_
        labels = torch.from_numpy(self._encoder.transform(y).astype(np.int64))
        dataset = resolve_dataset(spec, self.dataset)
        hparams, config = resolve(spec, self._overrides(), dataset)
        if config.val_fraction:
            train_idx, val_idx = stratified_split(labels.numpy(), config.val_fraction, self.seed)
        else:
            train_idx, val_idx = np.arange(len(labels)), np.arange(0)
        train = Split(images[train_idx], labels[train_idx])
        val = Split(images[val_idx], labels[val_idx])
        mean, std = channel_stats(train.images)
        std = tuple(s if s > 0 else 1.0 for s in std)  # a constant image set would divide by zero
        info = get_dataset_info(dataset)
        data = DataSplits(
            info=info,
            train=train,
            val=val,
            test=Split(images[:0], labels[:0]),
            mean=mean,
            std=std,
            source="arrays",
            fingerprint={},
        )
        torch.manual_seed(self.seed)
        self.model_ = spec.builder(tuple(info.image_shape), len(self.classes_), **hparams)
        self.history_ = [s.to_dict() for s in fit(self.model_, data, config).history]
        self.model_.to("cpu", memory_format=torch.contiguous_format).eval()
        self._normalizer = Normalizer(mean, std)
        return self

    def _logits(self, X) -> torch.Tensor:
        check_is_fitted(self, "model_")
        return predict_logits(self.model_, self._images(X, reset=False), self._normalizer)

    def predict_proba(self, X) -> np.ndarray:
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        best = self._logits(X).argmax(1).numpy()  # checks fitted-ness before classes_ is touched
        return self.classes_[best]
