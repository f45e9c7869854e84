"""The metrics registry against scikit-learn's implementations, on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from competitions.core.metrics import METRICS, get_metric


def _probs(rng, n: int, k: int) -> np.ndarray:
    raw = rng.random((n, k)) ** 3
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 200)
    probs = _probs(rng, 200, 4)
    probs[:50] = np.round(probs[:50], 1) + 0.05  # ties for the ranks of AUC (no zeros: Kaggle clips at 1e-15)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = probs.argmax(1)
    assert get_metric("accuracy")(y, probs) == pytest.approx(sk.accuracy_score(y, labels))
    assert get_metric("log_loss")(y, probs) == pytest.approx(sk.log_loss(y, probs, labels=range(4)))
    assert get_metric("f1_macro")(y, probs) == pytest.approx(sk.f1_score(y, labels, average="macro", zero_division=0))
    assert get_metric("f1_micro")(y, probs) == pytest.approx(sk.f1_score(y, labels, average="micro"))
    assert get_metric("auc")(y, probs) == pytest.approx(sk.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert get_metric("qwk")(y, probs) == pytest.approx(sk.cohen_kappa_score(y, labels, weights="quadratic"))


def test_binary_auc_from_two_columns_or_one_score_and_f1_with_an_absent_label():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300) * 0.5 + y * 0.3, 2)  # informative, with ties
    expected = sk.roc_auc_score(y, score)
    assert get_metric("roc_auc")(y, score) == pytest.approx(expected)
    assert get_metric("auc")(y, np.column_stack([1 - score, score])) == pytest.approx(expected)
    truth, predicted = np.array([0, 0, 1, 2]), np.array([0, 0, 1, 1])  # label 2 never predicted
    onehot = np.eye(3)[predicted]
    assert get_metric("f1_macro")(truth, onehot) == pytest.approx(sk.f1_score(truth, predicted, average="macro", zero_division=0))
    with pytest.raises(ValueError, match="both classes"):
        get_metric("auc")(np.zeros(4, int), np.linspace(0, 1, 4))


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 50_000, 500)
    pred = y * rng.lognormal(0, 0.2, 500)
    assert get_metric("mae")(y, pred) == pytest.approx(sk.mean_absolute_error(y, pred))
    assert get_metric("rmse")(y, pred) == pytest.approx(sk.root_mean_squared_error(y, pred))
    assert get_metric("rmsle")(y, pred) == pytest.approx(sk.root_mean_squared_log_error(y, pred))
    assert get_metric("rmse_log")(y, pred) == pytest.approx(np.sqrt(sk.mean_squared_error(np.log(y), np.log(pred))))


def test_every_metric_says_its_direction_and_the_prediction_it_needs():
    for name, metric in METRICS.items():
        assert metric.direction in ("max", "min") and metric.kind in ("labels", "probabilities", "values"), name
        assert metric.description, name
    assert get_metric("Quadratic_Weighted_Kappa").name == "qwk" and get_metric("logloss").name == "log_loss"
    with pytest.raises(ValueError, match="unknown metric 'brier'; known: accuracy, log_loss, auc"):
        get_metric("brier")


@pytest.mark.parametrize("seed", [0, 1])
def test_multilabel_f1_matches_scikit_learn_on_the_decisions(seed):
    from competitions.core.metrics import multilabel_decisions

    rng = np.random.default_rng(seed)
    truth = (rng.random((150, 5)) < 0.3).astype(float)
    truth[truth.sum(1) == 0, 0] = 1  # every row names one label or more, as Kaggle's do
    probs = np.clip(truth * 0.5 + rng.random((150, 5)) * 0.6, 0, 1)
    decided = multilabel_decisions(probs)
    assert decided.sum(1).min() >= 1 and (decided >= (probs >= 0.5)).all()  # at least the top class, all above 0.5
    for average in ("samples", "micro", "macro"):
        expected = sk.f1_score(truth.astype(int), decided.astype(int), average=average, zero_division=0)
        name = {"samples": "f1_samples", "micro": "f1_micro", "macro": "f1_macro"}[average]
        assert get_metric(name)(truth, probs) == pytest.approx(expected), average
    assert get_metric("mean_f1").name == "f1_samples"
