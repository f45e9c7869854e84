"""Blend weights for an ensemble of runs, from their out-of-fold predictions.

``equal``; ``cv`` (in proportion to each member's pooled OOF score, or to its inverse where lower
wins); ``oof`` (non-negative weights summing to one that minimise the blend's OOF loss: log loss of
the blended probabilities for classification, the metric itself for values, on the log scale for prices).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from competitions.core.metrics import Metric, multiclass_log_loss
from submissions.averaging import weighted_mean

WEIGHTINGS = ("equal", "cv", "oof")


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
    raise ValueError(f"unknown weighting {how!r}; choose {', '.join(WEIGHTINGS)}")
