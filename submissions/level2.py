"""How an ensemble combines its members' predictions: a weighted mean (submissions/weights.py) or a
second-level model fitted on the members' out-of-fold predictions.

``linear`` is the second-level model: for values (prices on the log scale, as the metric sees them) a
ridge regression with an intercept and coefficients of any sign, its penalty chosen by leave-one-out
(``RidgeCV``); for classes a multinomial logistic regression on the members' log-probabilities, which
can also re-calibrate them. Like the weightings it is fitted on OOF predictions only, so the ensemble's
nested score (each fold blended by a model fitted on the other folds) stays honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from competitions.core.metrics import Metric
from submissions.averaging import weighted_mean
from submissions.weights import WEIGHTINGS, blend_weights

LEVEL_TWO = ("linear",)
BLENDERS = (*WEIGHTINGS, *LEVEL_TWO)
RIDGE_ALPHAS = np.logspace(-3, 3, 13)
LOGISTIC_C = 1.0
PROBABILITY_FLOOR = 1e-6


@dataclass
class Blender:
    """Members' predictions -> the blend. ``weights``: one per member (a level-two model's share)."""

    how: str
    weights: np.ndarray
    log_scale: bool
    model: object | None = None
    n_classes: int = 0

    def apply(self, values: Sequence[np.ndarray]) -> np.ndarray:
        if self.model is None:
            return weighted_mean(values, self.weights, self.log_scale)
        features = level_two_features(values, self.log_scale, self.n_classes)
        if not self.n_classes:
            out = self.model.predict(features)
            return np.exp(out) if self.log_scale else out
        probs = np.full((len(features), self.n_classes), PROBABILITY_FLOOR)
        probs[:, self.model.classes_] = self.model.predict_proba(features)  # classes its rows held
        return probs / probs.sum(axis=1, keepdims=True)


def level_two_features(values: Sequence[np.ndarray], log_scale: bool, n_classes: int) -> np.ndarray:
    """One column per member (values; logs of prices), or its classes' log-probabilities."""
    if not n_classes:
        return np.column_stack([np.log(v) if log_scale else np.asarray(v, dtype=float).reshape(len(v)) for v in values])
    return np.hstack([np.log(np.clip(np.asarray(v, dtype=float), PROBABILITY_FLOOR, 1.0)) for v in values])


def fit_blender(how: str, metric: Metric, y_true: np.ndarray, oof: Sequence[np.ndarray], log_scale: bool) -> Blender:
    """The blender ``how`` (one of BLENDERS) fitted on the members' OOF predictions ``oof``."""
    if how not in LEVEL_TWO:
        return Blender(how, blend_weights(how, metric, y_true, oof, log_scale), log_scale)
    first = np.asarray(oof[0])
    n_classes = first.shape[1] if metric.kind != "values" and first.ndim == 2 else 0
    if n_classes and np.asarray(y_true).ndim > 1:
        raise ValueError("the linear level-two model takes one label per row, not multi-label targets")
    features = level_two_features(oof, log_scale, n_classes)
    if not n_classes:
        from sklearn.linear_model import RidgeCV

        target = np.log(y_true) if log_scale else np.asarray(y_true, dtype=float)
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(features, target)
        coef = np.asarray(model.coef_, dtype=float)
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=LOGISTIC_C, max_iter=2000).fit(features, np.asarray(y_true, dtype=int))
        blocks = np.abs(model.coef_).reshape(len(model.coef_), len(oof), n_classes).sum(axis=(0, 2))
        coef = blocks / max(blocks.sum(), 1e-12)
    return Blender(how, coef, log_scale, model, n_classes)
