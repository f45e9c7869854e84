"""The estimator fold trainer: the non-neural families (estimators/: LightGBM, linear models), beside the
Lightning one (pipeline/folds.py is their common interface).

Same inputs (the run's folds and the tabular DataModule's per-fold preprocessing, in the encoding the
family asks for) and the same outputs (fold<k>/oof.csv, metrics.json, test/fold<k>.csv at predict),
so `compete runs`, `ensemble` and `submit` treat every family alike. The fitted preprocessing and model
are saved per fold (preprocessor.joblib, model.joblib; LightGBM's booster.txt too): predict refits nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from competitions.core.artifacts import atomic_path, write_yaml
from competitions.core.console import info
from competitions.core.errors import CompeteError
from competitions.core.layout import RunLayout
from competitions.pipeline.folds import FitContext, FoldTrainer
from competitions.pipeline.oof import FoldResult, oof_frame


@dataclass
class FittedFold:
    """One family fitted on one fold: the model, its validation rows and their predictions (the model's
    scale: log prices, values, or class probabilities)."""

    model: object
    val_rows: np.ndarray
    val_predictions: np.ndarray
    details: dict
    seconds: float


def fit_fold(datamodule, family_class: type, params: dict, fold: int, seed: int,
             deadline: float | None = None) -> FittedFold:  # fmt: skip
    """Fit ``family_class(**params)`` on ``fold``'s training rows (features in the family's encoding);
    ``deadline``: the time by which a family that trains step by step stops (with its best model so far)."""
    from datamodules.features import native_categorical_columns

    datamodule.set_fold(fold)
    train_x, _, y, _ = datamodule.fold_features(family_class.encoding)
    train, val = datamodule.train_indices(), datamodule.val_indices()
    if "seed" in params:  # another bag per fold, as the Lightning folds get seed + k
        params = {**params, "seed": int(params["seed"]) + seed + fold}
    model = family_class(**params)
    categorical = native_categorical_columns(datamodule.preprocessor) if family_class.encoding == "native" else []
    started = time.time()
    model.deadline = deadline
    try:
        details = model.fit(train_x[train], y[train], train_x[val], y[val], categorical=categorical,
                            n_classes=len(datamodule.class_names))  # fmt: skip
    finally:
        model.deadline = None  # not saved with the model
    if deadline is not None and details.get("stopped_by_deadline"):
        info(f"fold {fold}: stopped at the budget's share of this fold ({details.get('rounds', '?')} rounds)")
    predictions = model.predict(train_x[val])
    return FittedFold(model, val, predictions, details, time.time() - started)


class EstimatorFoldTrainer(FoldTrainer):
    """Trees and linear models: one process, no Trainer, no epochs."""

    name = "estimator"
    tunable = True
    takes_budget = True  # boosting stops at each fold's share of the budget (estimators/base.py: deadline)
    unused_settings = ("trainer", "patience")

    def train_fold(self, context: FitContext, fold: int) -> dict:
        return train_estimator_fold(context, fold)

    def model_file(self, layout: RunLayout, fold: int, checkpoint: str = "best") -> Path:
        return layout.model_file(fold)

    def predict_test(self, prediction, fold: int, tta: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        preds = predict_estimator_test(prediction.datamodule, prediction.checkpoints[fold], fold)
        return np.arange(len(preds)), preds


def train_estimator_fold(context: FitContext, fold: int) -> dict:
    """Fit one fold, write its model, preprocessing, OOF predictions and metrics (one process: no DDP here)."""
    spec, cfg, layout, datamodule = context.spec, context.cfg, context.layout, context.datamodule
    family_class = context.model_class
    write_yaml(layout.fold_dir(fold) / "config.yaml", context.config)
    datamodule.set_fold(fold)
    info(f"fold {fold}: fitting {cfg.family} on {len(datamodule.train_indices())} rows, validating on "
         f"{len(datamodule.val_indices())}")  # fmt: skip
    fitted = fit_fold(datamodule, family_class, cfg.model.as_dict(), fold, cfg.seed, fold_deadline(context, fold))
    if not np.all(np.isfinite(fitted.val_predictions)):
        raise CompeteError(f"fold {fold}: {cfg.family} predicted non-finite values; check the data and model.*")
    save_model(layout, fold, fitted.model)
    datamodule.save_fitted_preprocessing(layout.fold_dir(fold))
    classes = datamodule.class_names
    result = FoldResult(fold, oof_frame(spec, classes, datamodule.train_table, fold, fitted.val_rows,
                                        datamodule.to_output(fitted.val_predictions)),
                        None, int(fitted.details.get("rounds", 0)), fitted.seconds, len(datamodule.train_indices()))  # fmt: skip
    metrics = result.write(spec, classes, layout)
    shown = "".join(f", {k} {v:g}" for k, v in fitted.details.items())
    info(f"fold {fold}: OOF {spec.metric.name} = {metrics['score']:.4f} ({len(fitted.val_rows)} rows, "
         f"{fitted.seconds:.1f}s{shown})")  # fmt: skip
    return metrics


PREDICT_SHARE = 0.1  # of a budget, kept for predicting the test set after the folds


def fold_deadline(context: FitContext, fold: int) -> float | None:
    """With `budget`: this fold's equal share of the time left to the folds still to fit, the test
    predictions' share of the budget kept aside."""
    if context.deadline is None:
        return None
    pending = [k for k in context.selected if k not in context.done and k >= fold]
    budget = context.deadline - context.started if context.started else 0.0
    left = context.deadline - PREDICT_SHARE * budget - time.time()
    return time.time() + max(0.0, left) / max(1, len(pending))


def save_model(layout, fold: int, model) -> None:
    import joblib

    with atomic_path(layout.model_file(fold)) as temporary:
        joblib.dump(model, temporary)
    if model.native_file:
        with atomic_path(layout.fold_dir(fold) / model.native_file) as temporary:
            model.save_native(temporary)


def predict_estimator_test(datamodule, model_path, fold: int) -> np.ndarray:
    """The test set's predictions (prices, values or class probabilities) of one saved fold, through its
    saved preprocessing."""
    import joblib

    model = joblib.load(model_path)
    datamodule.set_fold(fold)
    _, test_x, _, _ = datamodule.fold_features(model.encoding)
    return datamodule.to_output(model.predict(test_x))
