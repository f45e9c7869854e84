"""The interface of the model families that are not neural networks (gradient-boosted trees, linear models).

They are not LightningModules: each is fitted on one fold's preprocessed features with its library's
own API (LightGBM, scikit-learn), and the pipeline writes the same fold artifacts for them as for a
LightningModule (fold<k>/oof.csv, metrics.json, test/fold<k>.csv), plus fold<k>/model.joblib holding
the fitted preprocessing and model, so predict refits nothing.

A family declares the feature ``encoding`` it wants (``onehot``: scaled numbers and one-hot
categories; ``native``: numbers as they are and integer-coded categories for trees), its
hyper-parameters as constructor arguments (what ``--model.*`` sets and ``compete tune`` searches),
and ``search_space``, the Optuna ranges ``compete tune`` draws from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np


class TabularEstimator:
    """fit(features, target, validation features, validation target) -> details; predict(features) -> values."""

    encoding: ClassVar[str] = "onehot"
    fold_trainer: ClassVar[str] = "estimator"  # how the pipeline trains a fold of it (LightningModules: lightning)
    classifier: ClassVar[bool] = False  # predict returns class probabilities [rows, n_classes]
    supports_tta: ClassVar[bool] = False  # test-time augmentation is for images
    native_file: ClassVar[str | None] = None  # the model in its library's own format too (save_native), e.g. booster.txt
    budget_weight: ClassVar[float] = 1.0  # a stack under `budget`: its share of the time, against the others'
    deadline: float | None = None  # set by the fold trainer under `budget`: a time.time() by which fit stops

    def __init__(self, **hparams: Any) -> None:
        self.hparams = dict(hparams)
        self.model = None

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            categorical: Sequence[int] = (), n_classes: int = 0) -> dict:  # fmt: skip
        """Fit on (x, y); ``x_val``/``y_val`` (the fold's validation rows) may be used for early stopping.
        ``categorical``: columns of x holding integer category codes (native encoding). ``n_classes``: a
        classifier's number of classes (y holds indices 0..n_classes-1; a fold may lack some). Returns
        details worth recording (e.g. the boosting round early stopping chose). A family that trains step by
        step stops at ``self.deadline`` when it is set, keeping its best model so far, and says so
        (``stopped_by_deadline``); one fitted in a single solve (ridge) is quick and ignores it."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x), dtype=float)

    def save_native(self, path) -> None:
        """Write the model to ``path`` in its library's own format (families with a ``native_file``)."""
        raise NotImplementedError(f"{type(self).__name__} has no native format")

    @classmethod
    def search_space(cls, trial) -> dict:
        """Hyper-parameters drawn from an Optuna ``trial`` (compete tune)."""
        raise NotImplementedError(f"{cls.__name__} has no search space")


def full_probabilities(probabilities: np.ndarray, seen: np.ndarray, n_classes: int) -> np.ndarray:
    """A library's predict_proba over the classes it saw (``seen``) as columns 0..n_classes-1."""
    full = np.zeros((len(probabilities), n_classes), dtype=float)
    full[:, np.asarray(seen, dtype=int)] = probabilities
    return full


def default_threads() -> int:
    from competitions.core.ranks import usable_cpus

    return usable_cpus()
