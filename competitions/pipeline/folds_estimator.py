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


def fit_fold(datamodule, family_class: type, params: dict, fold: int, seed: int) -> FittedFold:
    """Fit ``family_class(**params)`` on ``fold``'s training rows (features in the family's encoding)."""
    from datamodules.features import native_categorical_columns

    datamodule.set_fold(fold)
    train_x, _, y, _ = datamodule.fold_features(family_class.encoding)
    train, val = datamodule.train_indices(), datamodule.val_indices()
    if "seed" in params:  # another bag per fold, as the Lightning folds get seed + k
        params = {**params, "seed": int(params["seed"]) + seed + fold}
    model = family_class(**params)
    categorical = native_categorical_columns(datamodule.preprocessor) if family_class.encoding == "native" else []
    started = time.time()
    details = model.fit(train_x[train], y[train], train_x[val], y[val], categorical=categorical,
                        n_classes=len(datamodule.class_names))  # fmt: skip
    predictions = model.predict(train_x[val])
    return FittedFold(model, val, predictions, details, time.time() - started)


class EstimatorFoldTrainer(FoldTrainer):
    """Trees and linear models: one process, no Trainer, no epochs."""

    name = "estimator"
    tunable = True
    unused_settings = ("trainer", "patience", "budget")

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
    fitted = fit_fold(datamodule, family_class, cfg.model.as_dict(), fold, cfg.seed)
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
