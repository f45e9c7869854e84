"""Gradient-boosted trees (LightGBM) on native categoricals, early-stopped on the fold's validation rows:
a regressor (on the log price, or the target as it is) and a classifier (binary or multiclass)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from estimators.base import TabularEstimator, default_threads, full_probabilities


class Deadline:
    """A LightGBM callback that ends boosting at ``deadline`` (time.time()), keeping early stopping's best
    round so far (it runs after early stopping, which LightGBM orders 30)."""

    order = 40
    before_iteration = False

    def __init__(self, deadline: float, stopping=None) -> None:
        self.deadline, self.stopping, self.stopped = deadline, stopping, False

    def __call__(self, env) -> None:
        import lightgbm as lgb

        if time.time() < self.deadline:
            return
        self.stopped = True
        if self.stopping is not None and self.stopping.best_iter:
            raise lgb.callback.EarlyStopException(self.stopping.best_iter[0], self.stopping.best_score_list[0])
        raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])


class LightGBMRegressor(TabularEstimator):
    """LightGBM on the model target: categories split natively (no one-hot), missing values kept."""

    encoding = "native"
    library_class = "LGBMRegressor"
    native_file = "booster.txt"

    def __init__(
        self,
        n_estimators: int = 5000,
        learning_rate: float = 0.02,
        num_leaves: int = 15,
        max_depth: int = -1,
        min_child_samples: int = 10,
        subsample: float = 0.8,
        subsample_freq: int = 1,
        colsample_bytree: float = 0.4,
        reg_alpha: float = 0.0,
        reg_lambda: float = 1.0,
        min_split_gain: float = 0.0,
        cat_smooth: float = 10.0,
        min_data_per_group: int = 20,
        max_bin: int = 255,
        early_stopping_rounds: int = 200,
        threads: int = 0,
        seed: int = 0,
    ) -> None:
        """
        Args:
            n_estimators: the most boosting rounds (early stopping usually ends sooner).
            learning_rate: shrinkage per round.
            num_leaves: leaves per tree.
            max_depth: depth limit (-1: none).
            min_child_samples: rows per leaf at least.
            subsample: fraction of rows per bagging round.
            subsample_freq: bag every this many rounds (0: no bagging).
            colsample_bytree: fraction of features per tree.
            reg_alpha: L1 penalty on leaf values.
            reg_lambda: L2 penalty on leaf values.
            min_split_gain: the least gain a split must bring.
            cat_smooth: smoothing of categorical splits.
            min_data_per_group: rows per category group at least.
            max_bin: histogram bins per numeric feature.
            early_stopping_rounds: stop after this many rounds without a better validation loss (0: off).
            threads: CPU threads (0: the CPUs this process may use).
            seed: the booster's random seed (compete adds the fold number).
        """
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            categorical: Sequence[int] = (), n_classes: int = 0) -> dict:  # fmt: skip
        import lightgbm as lgb

        hp = dict(self.hparams)
        rounds = hp.pop("early_stopping_rounds")
        threads = hp.pop("threads") or default_threads()
        self.n_classes = n_classes
        self.model = getattr(lgb, self.library_class)(**hp, n_jobs=threads, verbose=-1)
        evaluation, callbacks, stopping = {}, [], None
        if x_val is not None and len(x_val) and rounds:
            evaluation = {"eval_X": (x_val,), "eval_y": (y_val,)}
            stopping = lgb.early_stopping(rounds, verbose=False)
            callbacks.append(stopping)
        deadline = Deadline(self.deadline, stopping) if self.deadline is not None else None
        self.model.fit(x, y, categorical_feature=list(categorical) or "auto", callbacks=callbacks + [deadline] * bool(deadline),
                       **evaluation)  # fmt: skip
        best = self.model.best_iteration_ or self.model.booster_.current_iteration()
        return {"rounds": int(best), **({"stopped_by_deadline": True} if deadline and deadline.stopped else {})}

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, num_iteration=self.model.best_iteration_ or None), dtype=float)

    def save_native(self, path) -> None:
        """The booster in LightGBM's own text format (readable without this project)."""
        self.model.booster_.save_model(str(path), num_iteration=self.model.best_iteration_ or None)

    @classmethod
    def search_space(cls, trial) -> dict:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 3, 60, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.1, 1.0),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 3.0, log=True),
            "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
        }


class LightGBMClassifier(LightGBMRegressor):
    """LightGBM on class indices (binary or multiclass log loss), early-stopped on the fold's validation
    log loss; predicts class probabilities. Same settings as the regressor."""

    classifier = True
    library_class = "LGBMClassifier"

    def predict(self, x: np.ndarray) -> np.ndarray:
        probabilities = self.model.predict_proba(x, num_iteration=self.model.best_iteration_ or None)
        return full_probabilities(probabilities, self.model.classes_, self.n_classes or len(self.model.classes_))
