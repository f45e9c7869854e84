"""Gradient-boosted trees (CatBoost) on native categoricals with ordered target statistics, early-stopped on
the fold's validation rows: a regressor and a classifier (binary or multiclass)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from estimators.base import TabularEstimator, default_threads, full_probabilities


class Deadline:
    """A CatBoost callback that ends training at ``deadline`` (time.time()); with an evaluation set CatBoost
    then keeps its best iteration so far (use_best_model)."""

    def __init__(self, deadline: float) -> None:
        self.deadline, self.stopped = deadline, False

    def after_iteration(self, info) -> bool:
        self.stopped = time.time() >= self.deadline
        return not self.stopped


class CatBoostRegressor(TabularEstimator):
    """CatBoost on the model target. Category codes go to CatBoost as categorical features (its ordered
    target statistics, not one-hot); boosting is ordered or plain as CatBoost chooses for the data size."""

    encoding = "native"
    library_class = "CatBoostRegressor"
    native_file = "model.cbm"
    budget_weight = 1.5  # slower per tree than LightGBM, and the stronger of the two on small tables
    loss = "RMSE"

    def __init__(
        self,
        iterations: int = 3000,
        learning_rate: float = 0.05,
        depth: int = 6,
        l2_leaf_reg: float = 3.0,
        random_strength: float = 1.0,
        bagging_temperature: float = 1.0,
        one_hot_max_size: int = 2,
        boosting_type: str | None = None,
        early_stopping_rounds: int = 200,
        threads: int = 0,
        seed: int = 0,
    ) -> None:
        """
        Args:
            iterations: the most trees (early stopping usually ends sooner).
            learning_rate: shrinkage per tree.
            depth: depth of the symmetric trees.
            l2_leaf_reg: L2 penalty on leaf values.
            random_strength: randomness of split scores (against overfitting).
            bagging_temperature: Bayesian bagging of rows (0: none).
            one_hot_max_size: categories with at most this many values are one-hot encoded, others get target statistics.
            boosting_type: Ordered or Plain (None: CatBoost's choice, Ordered on small data).
            early_stopping_rounds: stop after this many trees without a better validation loss (0: off).
            threads: CPU threads (0: the CPUs this process may use).
            seed: the random seed (compete adds the fold number).
        """
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})

    def _frame(self, x: np.ndarray):
        """x with its category-code columns as integers (CatBoost refuses float categories)."""
        import pandas as pd

        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
        for column in self.categorical:
            frame[f"f{column}"] = np.nan_to_num(x[:, column], nan=-2).astype(np.int64)
        return frame

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            categorical: Sequence[int] = (), n_classes: int = 0) -> dict:  # fmt: skip
        import catboost

        hp = {k: v for k, v in self.hparams.items() if v is not None}
        rounds = hp.pop("early_stopping_rounds")
        threads = hp.pop("threads") or default_threads()
        hp["random_seed"] = hp.pop("seed")
        self.categorical, self.n_classes = list(categorical), n_classes
        loss = self.loss if not self.classifier else ("Logloss" if n_classes <= 2 else "MultiClass")
        self.model = getattr(catboost, self.library_class)(**hp, loss_function=loss,
                                                          thread_count=threads, verbose=False,
                                                          allow_writing_files=False)  # fmt: skip
        validation = {}
        if x_val is not None and len(x_val) and rounds:
            validation = {"eval_set": (self._frame(x_val), y_val), "early_stopping_rounds": rounds, "use_best_model": True}
        deadline = Deadline(self.deadline) if self.deadline is not None else None
        self.model.fit(self._frame(x), y, cat_features=self.categorical, callbacks=[deadline] if deadline else None,
                       **validation)  # fmt: skip
        rounds = int(self.model.get_best_iteration() or self.model.tree_count_) + 1
        return {"rounds": rounds, **({"stopped_by_deadline": True} if deadline and deadline.stopped else {})}

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(self._frame(x)), dtype=float).reshape(len(x))

    def save_native(self, path) -> None:
        """The model in CatBoost's own format (readable without this project)."""
        self.model.save_model(str(path))

    @classmethod
    def search_space(cls, trial) -> dict:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "depth": trial.suggest_int("depth", 4, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "random_strength": trial.suggest_float("random_strength", 0.1, 5.0, log=True),
            "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 2.0),
        }


class CatBoostClassifier(CatBoostRegressor):
    """CatBoost on class indices (Logloss or MultiClass), early-stopped on the fold's validation loss;
    predicts class probabilities. Same settings as the regressor."""

    classifier = True
    library_class = "CatBoostClassifier"

    def predict(self, x: np.ndarray) -> np.ndarray:
        probabilities = self.model.predict_proba(self._frame(x))
        return full_probabilities(probabilities, self.model.classes_, self.n_classes or len(self.model.classes_))
