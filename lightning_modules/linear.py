"""Regularised linear models (ridge, elastic net) on one-hot categories and log/skew-corrected numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lightning_modules.estimators import TabularEstimator


class LinearRegressor(TabularEstimator):
    """Ridge (``l1_ratio`` 0) or elastic net on the log target; the penalty chosen by cross-validation
    on the fold's training rows when ``alpha`` is unset (the validation rows are never looked at)."""

    encoding = "onehot"

    def __init__(
        self,
        alpha: float | None = None,
        l1_ratio: float = 0.0,
        alphas: list[float] | None = None,
        max_iter: int = 20000,
    ) -> None:
        """
        Args:
            alpha: the penalty; unset: chosen among ``alphas`` by cross-validation on the training rows.
            l1_ratio: 0 is ridge (L2); above 0 an elastic net with this share of L1 (1: the lasso).
            alphas: the penalties tried when alpha is unset (default: 40 from 1e-4 to 1e3, log-spaced;
                the elastic net scales them down by its own rule).
            max_iter: coordinate-descent iterations of the elastic net.
        """
        super().__init__(alpha=alpha, l1_ratio=l1_ratio, alphas=alphas, max_iter=max_iter)

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            categorical: Sequence[int] = ()) -> dict:  # fmt: skip
        from sklearn.linear_model import ElasticNet, ElasticNetCV, Ridge, RidgeCV

        hp = self.hparams
        alphas = np.asarray(hp["alphas"] or np.logspace(-4, 3, 40), dtype=float)
        if hp["l1_ratio"] <= 0:
            self.model = Ridge(alpha=hp["alpha"]) if hp["alpha"] is not None else RidgeCV(alphas=alphas)
        elif hp["alpha"] is not None:
            self.model = ElasticNet(alpha=hp["alpha"], l1_ratio=hp["l1_ratio"], max_iter=hp["max_iter"])
        else:
            self.model = ElasticNetCV(l1_ratio=hp["l1_ratio"], alphas=40, cv=5, max_iter=hp["max_iter"],
                                      random_state=0)  # fmt: skip
        self.model.fit(x, y)
        return {"alpha": float(getattr(self.model, "alpha_", hp["alpha"] or 0.0))}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {
            "alpha": trial.suggest_float("alpha", 1e-4, 100.0, log=True),
            "l1_ratio": trial.suggest_float("l1_ratio", 0.0, 1.0),
        }
