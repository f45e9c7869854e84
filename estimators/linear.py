"""Regularised linear models on one-hot categories and log/skew-corrected numbers: ridge or elastic net
for a regression, logistic regression for a classification."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from estimators.base import TabularEstimator, full_probabilities


class LinearRegressor(TabularEstimator):
    """Ridge (``l1_ratio`` 0) or elastic net on the model target; the penalty chosen by cross-validation
    on the fold's training rows when ``alpha`` is unset (the validation rows are never looked at)."""
    budget_weight = 0.1  # one solve per fold

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
            categorical: Sequence[int] = (), n_classes: int = 0) -> dict:  # fmt: skip
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


class LogisticClassifier(TabularEstimator):
    """Logistic regression (binary or multinomial); the inverse penalty ``C`` chosen by cross-validated
    log loss on the fold's training rows when unset (the validation rows are never looked at)."""
    budget_weight = 0.1

    encoding = "onehot"
    classifier = True

    def __init__(self, C: float | None = None, l1_ratio: float = 0.0, Cs: int = 12, max_iter: int = 2000) -> None:
        """
        Args:
            C: the inverse of the penalty's strength; unset: chosen among ``Cs`` values by 5-fold CV.
            l1_ratio: 0 is an L2 penalty; above 0 an elastic net with this share of L1 (solver saga).
            Cs: how many values of C (log-spaced from 1e-4 to 1e4) the CV tries.
            max_iter: solver iterations.
        """
        super().__init__(C=C, l1_ratio=l1_ratio, Cs=Cs, max_iter=max_iter)

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            categorical: Sequence[int] = (), n_classes: int = 0) -> dict:  # fmt: skip
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold

        hp = self.hparams
        self.n_classes = n_classes
        solver = "saga" if hp["l1_ratio"] > 0 else "lbfgs"
        if hp["C"] is not None:
            self.model = LogisticRegression(C=hp["C"], l1_ratio=hp["l1_ratio"], solver=solver, max_iter=hp["max_iter"])
        else:
            folds = min(5, int(np.bincount(y).min()) if len(y) else 2)
            self.model = LogisticRegressionCV(Cs=hp["Cs"], l1_ratios=(hp["l1_ratio"],), solver=solver,
                                              cv=StratifiedKFold(max(folds, 2), shuffle=True, random_state=0),
                                              scoring="neg_log_loss", max_iter=hp["max_iter"],
                                              use_legacy_attributes=False)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(x, y)
        chosen = getattr(self.model, "C_", hp["C"])
        return {"C": float(np.ravel(chosen)[0])}

    def predict(self, x: np.ndarray) -> np.ndarray:
        probabilities = self.model.predict_proba(x)
        return full_probabilities(probabilities, self.model.classes_, self.n_classes or len(self.model.classes_))

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True)}
