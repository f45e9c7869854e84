"""Competition metrics, computed exactly as the Kaggle leaderboard computes them.

Each metric takes the true targets (class indices or values) and the predictions (class
probabilities, shape [n, classes], or values) as numpy arrays; classification metrics that score
labels take the most probable class. ``kind`` says what a submission must hold for the metric:
``labels``, ``probabilities`` or ``values``. Plain numpy (no scikit-learn import), tested against
scikit-learn's implementations on the same arrays. ``METRICS`` / ``get_metric`` is the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Metric:
    name: str
    direction: Literal["max", "min"]
    fn: Callable[[np.ndarray, np.ndarray], float]
    kind: Literal["labels", "probabilities", "values"] = "probabilities"
    description: str = ""

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred)))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is better than score ``b``."""
        return a > b if self.direction == "max" else a < b

    @property
    def better_word(self) -> str:
        """"higher" or "lower": which way the score improves, for tables and titles."""
        return "higher" if self.direction == "max" else "lower"

    def best(self, scores):
        """The best of ``scores`` (None when there are none)."""
        return (max if self.direction == "max" else min)(scores, default=None)


def accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == y_true))


def multiclass_log_loss(y_true: np.ndarray, probs: np.ndarray, eps: float = 1e-15) -> float:
    # Kaggle rescales each row to sum to one and clips at eps before taking logs.
    probs = np.clip(probs / probs.sum(axis=1, keepdims=True), eps, 1 - eps)
    return float(-np.mean(np.log(probs[np.arange(len(y_true)), y_true])))


def rmse_log(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(y_pred) - np.log(y_true)) ** 2)))


def _labels(pred: np.ndarray) -> np.ndarray:
    return pred.argmax(axis=1) if pred.ndim == 2 else pred


MULTI_LABEL_THRESHOLD = 0.5


def multilabel_decisions(probs: np.ndarray, threshold: float = MULTI_LABEL_THRESHOLD) -> np.ndarray:
    """Multi-label: each class whose probability reaches ``threshold``, and at least the most probable one
    (a Kaggle row names one label or more). Boolean [rows, classes]."""
    probs = np.asarray(probs, dtype=float)
    chosen = probs >= threshold
    if len(probs):
        chosen[np.arange(len(probs)), probs.argmax(axis=1)] = True
    return chosen


def multi_hot(labels, classes) -> np.ndarray:
    """Space-separated label sets ("cat dog") as a float multi-hot matrix [rows, classes]; unknown names
    are ignored."""
    lookup = {name: i for i, name in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for row, text in enumerate(labels):
        for name in str(text).split():
            if name in lookup:
                out[row, lookup[name]] = 1.0
    return out


def _multilabel_f1(y_true: np.ndarray, probs: np.ndarray, average: str) -> float:
    """F1 of multi-hot truth [rows, classes] against the decisions from probabilities (scikit-learn's
    multilabel f1_score, zero_division=0)."""
    truth, pred = np.asarray(y_true) > 0.5, multilabel_decisions(probs)
    tp, fp, fn = (truth & pred), (~truth & pred), (truth & ~pred)
    if average == "samples":
        denominator = 2 * tp.sum(1) + fp.sum(1) + fn.sum(1)
        scores = np.divide(2 * tp.sum(1), denominator, out=np.zeros(len(truth)), where=denominator > 0)
        return float(scores.mean())
    if average == "micro":
        denominator = 2 * tp.sum() + fp.sum() + fn.sum()
        return float(2 * tp.sum() / denominator) if denominator else 0.0
    denominator = 2 * tp.sum(0) + fp.sum(0) + fn.sum(0)
    return float(np.divide(2 * tp.sum(0), denominator, out=np.zeros(truth.shape[1]), where=denominator > 0).mean())


def f1(y_true: np.ndarray, probs: np.ndarray, average: Literal["macro", "micro"]) -> float:
    """F1 over the labels present in the truth or the predictions (scikit-learn's label set, with
    zero_division=0); multi-label (multi-hot truth [rows, classes]): over every (row, class) decision."""
    if np.ndim(y_true) == 2:
        return _multilabel_f1(y_true, probs, average)
    pred = _labels(probs)
    labels = np.union1d(y_true, pred)
    tp = np.array([np.sum((pred == k) & (y_true == k)) for k in labels], dtype=float)
    fp = np.array([np.sum((pred == k) & (y_true != k)) for k in labels], dtype=float)
    fn = np.array([np.sum((pred != k) & (y_true == k)) for k in labels], dtype=float)
    if average == "micro":
        denominator = 2 * tp.sum() + fp.sum() + fn.sum()
        return float(2 * tp.sum() / denominator) if denominator else 0.0
    denominator = 2 * tp + fp + fn
    scores = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(scores.mean())


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2
    return ranks


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes in the truth")
    ranks = _average_ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Binary: the AUC of the positive class's probability (or score); multiclass: the macro average of
    one-vs-rest AUCs."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim == 1:
        return _binary_auc(y_true == 1, probs)
    if probs.shape[1] == 2:
        return _binary_auc(y_true == 1, probs[:, 1])
    return float(np.mean([_binary_auc(y_true == k, probs[:, k]) for k in range(probs.shape[1])]))


def quadratic_weighted_kappa(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights over the ordered labels present in either array."""
    pred = _labels(probs)
    labels = np.union1d(y_true, pred)
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    observed = np.zeros((k, k))
    for a, b in zip(y_true, pred, strict=True):
        observed[index[a], index[b]] += 1
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / max((k - 1) ** 2, 1)
    denominator = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / denominator) if denominator else 1.0


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_pred, dtype=float) - y_true)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_pred, dtype=float) - y_true) ** 2)))


def rmsle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """RMSE of log(1 + x): Kaggle's RMSLE (needs values above -1)."""
    return float(np.sqrt(np.mean((np.log1p(np.asarray(y_pred, dtype=float)) - np.log1p(y_true)) ** 2)))


ACCURACY = Metric("accuracy", "max", accuracy, "labels", "share of rows whose label is right")
LOG_LOSS = Metric("log_loss", "min", multiclass_log_loss, "probabilities", "multi-class log loss (rows rescaled, clipped at 1e-15)")
RMSE_LOG = Metric("rmse_log", "min", rmse_log, "values", "RMSE of the log of positive values (house prices)")
AUC = Metric("auc", "max", roc_auc, "probabilities", "area under the ROC curve (multiclass: macro one-vs-rest)")
F1_MACRO = Metric("f1_macro", "max", lambda y, p: f1(y, p, "macro"), "labels", "F1 averaged over labels")
F1_MICRO = Metric("f1_micro", "max", lambda y, p: f1(y, p, "micro"), "labels", "F1 over all rows")
QWK = Metric("qwk", "max", quadratic_weighted_kappa, "labels", "quadratic weighted kappa (ordered labels)")
MAE = Metric("mae", "min", mae, "values", "mean absolute error")
RMSE = Metric("rmse", "min", rmse, "values", "root mean squared error")
RMSLE = Metric("rmsle", "min", rmsle, "values", "RMSE of log(1 + value)")
F1_SAMPLES = Metric("f1_samples", "max", lambda y, p: _multilabel_f1(y, p, "samples"), "labels",
                    "multi-label: F1 of each row's label set, averaged over rows (mean F1)")  # fmt: skip

METRICS: dict[str, Metric] = {m.name: m for m in (ACCURACY, LOG_LOSS, AUC, F1_MACRO, F1_MICRO, F1_SAMPLES, QWK, MAE, RMSE, RMSLE, RMSE_LOG)}
ALIASES = {"roc_auc": "auc", "quadratic_weighted_kappa": "qwk", "kappa": "qwk", "logloss": "log_loss",
           "multi_logloss": "log_loss", "f1": "f1_macro", "rmse_of_log": "rmse_log", "mean_f1": "f1_samples"}  # fmt: skip


def get_metric(name: str) -> Metric:
    """A metric by name (or a common alias); ValueError listing the known ones."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[key]
