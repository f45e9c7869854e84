"""Competition metrics, computed exactly as the Kaggle leaderboard computes them.

Each metric takes the true targets (class indices or values) and the predictions
(class probabilities, shape [n, classes], or values) as numpy arrays.
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


ACCURACY = Metric("accuracy", "max", accuracy)
LOG_LOSS = Metric("log_loss", "min", multiclass_log_loss)
RMSE_LOG = Metric("rmse_log", "min", rmse_log)
