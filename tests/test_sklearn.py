"""ZooClassifier inside scikit-learn: clone, GridSearchCV, cross_val_score and the estimator checks."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from zoo.sklearn import ZooClassifier

_SHAPE = (
    "scikit-learn's generic checks fit on random tabular data with 1-10 features; ZooClassifier is an image "
    "classifier that takes the variant's dataset shape (784 pixels for fashion-mlp) and refuses other widths "
    "with a ValueError naming both"
)
EXPECTED_FAILURES = {
    name: _SHAPE
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_classifiers_train",
        "check_supervised_y_2d",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    )
}


@parametrize_with_checks(
    [ZooClassifier("fashion-mlp", epochs=1, batch_size=16)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def pixels(fashion_small):
    x = fashion_small.train.images[:1200].numpy()
    return x.reshape(len(x), 28, 28), fashion_small.train.labels[:1200].numpy()


def test_clone_keeps_variant_hyperparameters():
    clf = ZooClassifier("fashion-mlp", epochs=2, dropout=0.1, hidden=(64,))
    params = clone(clf).get_params()
    assert params["dropout"] == 0.1 and params["hidden"] == (64,) and params["epochs"] == 2
    clf.set_params(dropout=0.3)
    assert clf.get_params()["dropout"] == 0.3


def test_fit_predict_on_any_layout(pixels):
    x, y = pixels
    clf = ZooClassifier("fashion-mlp", epochs=2, hidden=(64,)).fit(x, y)
    flat = clf.predict(x.reshape(len(x), -1))
    assert np.array_equal(flat, clf.predict(x)) and np.array_equal(flat, clf.predict(x[:, None]))
    assert clf.score(x, y) > 0.6  # chance is 0.1
    proba = clf.predict_proba(x[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert len(clf.history_) == 2


def test_string_labels_come_back(pixels):
    x, y = pixels
    names = np.array(
        ["top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
    )
    clf = ZooClassifier("fashion-mlp", epochs=1, hidden=(32,)).fit(x, names[y])
    assert set(clf.predict(x[:50])) <= set(names)


def test_grid_search_and_cross_val_score(pixels):
    x, y = pixels
    scores = cross_val_score(ZooClassifier("fashion-mlp", epochs=1, hidden=(32,)), x, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.3).all()
    search = GridSearchCV(ZooClassifier("fashion-mlp", epochs=1, hidden=(32,)), {"dropout": [0.0, 0.3]}, cv=2)
    search.fit(x, y)
    assert search.best_params_["dropout"] in (0.0, 0.3) and search.best_score_ > 0.3


def test_cnn_variant_and_wrong_width(pixels):
    x, y = pixels
    clf = ZooClassifier("fashion-cnn", epochs=1, batch_size=64).fit(x[:400], y[:400])
    assert clf.predict(x[:3]).shape == (3,)
    with pytest.raises(ValueError, match="expecting 784 features"):
        clf.predict(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="takes images of 784 pixels"):
        ZooClassifier("fashion-cnn", epochs=1).fit(np.zeros((4, 10)), [0, 1, 0, 1])


@pytest.mark.parametrize("name", ["fashion-mlp4", "fashion-cnn3"])
def test_variants_that_stop_early_fit_with_their_defaults(pixels, name):
    """Their recipes stop early on a 20% validation split (patience 10); the estimator used to force
    val_fraction=0 and refuse them."""
    x, y = pixels
    clf = ZooClassifier(name, epochs=2).fit(x[:500], y[:500])
    assert len(clf.history_) == 2 and all(h["val_loss"] is not None for h in clf.history_)
    assert clf.predict(x[:5]).shape == (5,)
    whole = ZooClassifier("fashion-mlp", epochs=1).fit(x[:300], y[:300])  # no early stopping: all data trains
    assert whole.history_[0]["val_loss"] is None
    assert ZooClassifier(name, epochs=1, val_fraction=0.3).get_params()["val_fraction"] == 0.3
