"""Blend weights for an ensemble of runs, from their out-of-fold predictions.

``equal``; ``cv`` (in proportion to each member's pooled OOF score, or to its inverse where lower
wins); ``oof`` (non-negative weights summing to one that minimise the blend's OOF loss: log loss of
the blended probabilities for classification, the metric itself for values, on the log scale for prices);
``caruana`` (greedy ensemble selection with replacement, Caruana et al. 2004, as AutoGluon's
WeightedEnsemble: start from the best member, then add, ITERATIONS times, the member whose addition scores
best on the competition's metric, ties going to the member chosen most; weights are the counts); ``auto`` is the stack's choice between these
two and the second-level model of level2.py by the nested OOF score (pipeline/ensemble.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from competitions.core.metrics import Metric, multiclass_log_loss
from submissions.averaging import weighted_mean

WEIGHTINGS = ("equal", "cv", "oof", "caruana")
CARUANA_ITERATIONS = 100


def fit_weights(metric: Metric, y_true: np.ndarray, oof: Sequence[np.ndarray], log_scale: bool) -> np.ndarray:
    """Non-negative weights summing to one that minimise the blended OOF loss."""

    def loss(weights: np.ndarray) -> float:
        weights = np.clip(weights, 0, None)
        mixed = weighted_mean(oof, weights / max(weights.sum(), 1e-12), log_scale)
        if log_scale or metric.kind == "values":  # values: the metric itself; classes: log loss (smooth)
            return metric(y_true, mixed)
        return multiclass_log_loss(y_true, np.clip(mixed, 1e-15, None))

    n = len(oof)
    result = minimize(
        loss,
        np.full(n, 1 / n),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
    )
    weights = np.clip(result.x, 0, None)
    return weights / weights.sum()


def caruana_weights(metric: Metric, y_true: np.ndarray, oof: Sequence[np.ndarray], log_scale: bool,
                    iterations: int = CARUANA_ITERATIONS) -> np.ndarray:  # fmt: skip
    """Greedy selection with replacement on the metric itself; the selection counts as weights."""
    sign = 1.0 if metric.direction == "min" else -1.0
    values = [np.log(v) if log_scale else np.asarray(v, dtype=float) for v in oof]
    counts = np.zeros(len(oof))
    total = np.zeros_like(values[0])
    for step in range(1, iterations + 1):
        scores = [sign * metric(y_true, np.exp((total + v) / step) if log_scale else (total + v) / step) for v in values]
        tied = np.flatnonzero(np.asarray(scores) <= min(scores) + 1e-12)
        best = int(tied[np.argmax(counts[tied])])  # ties: the member already chosen most, then the earlier
        counts[best] += 1
        total = total + values[best]
    return counts / counts.sum()


def blend_weights(how: str, metric: Metric, y_true: np.ndarray, oof: Sequence[np.ndarray], log_scale: bool) -> np.ndarray:
    """Weights by ``how`` (one of WEIGHTINGS) for members with out-of-fold predictions ``oof``."""
    if how == "equal":
        return np.full(len(oof), 1 / len(oof))
    if how == "cv":
        scores = np.array([metric(y_true, values) for values in oof])
        raw = scores if metric.direction == "max" else 1 / scores
        return raw / raw.sum()
    if how == "oof":
        return fit_weights(metric, y_true, oof, log_scale)
    if how == "caruana":
        return caruana_weights(metric, y_true, oof, log_scale)
    raise ValueError(f"unknown weighting {how!r}; choose {', '.join(WEIGHTINGS)}")
