"""The Lightning fold trainer: every LightningModule family (images, the tabular MLP). One fresh Trainer
per fold, the fold's out-of-fold predictions with its best checkpoint, and test predictions per fold
(with the model's TTA views).

Under DDP Lightning re-launches the whole command once per process, so every rank walks the fold loop;
only global rank 0 writes files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from competitions.core.artifacts import write_yaml
from competitions.core.console import info
from competitions.core.errors import CompeteError, OptionError
from competitions.core.layout import RunLayout
from competitions.core.ranks import is_global_zero
from competitions.pipeline.fit_callbacks import (
    budget_guard,
    early_stopping,
    fold_checkpoint,
    fold_progress_bar,
    freed_memory_returned,
    interruptible,
    predict_outputs,
    rng_state,
    run_estimate,
    shared_run_folder,
)
from competitions.pipeline.fit_parser import check_strategy, trainer_kwargs
from competitions.pipeline.folds import FitContext, FoldTrainer
from competitions.pipeline.oof import FoldResult, gather_predictions, oof_frame


class LightningFoldTrainer(FoldTrainer):
    name = "lightning"
    takes_budget = True
    uses_accelerator = True

    def plan_budget(self, context: FitContext, started: float) -> bool:
        """The epochs that fit the budget, from a probe of the first fold (pipeline/fit.py: apply_budget)."""
        from competitions.pipeline.fit import apply_budget

        super().plan_budget(context, started)
        return apply_budget(context, started)

    def check_options(self, spec, cfg) -> None:
        """Also: every fold validates (best.ckpt and early stopping watch the validation metric)."""
        super().check_options(spec, cfg)
        trainer = cfg.get("trainer") or {}
        check_strategy(trainer.get("strategy"), trainer.get("devices"), trainer.get("accelerator"))
        check_ladder(cfg)
        if trainer.get("limit_val_batches") in (0, 0.0):
            raise OptionError("`trainer.limit_val_batches` 0: compete validates every fold (best.ckpt and early "
                              "stopping watch the validation metric); a fraction such as 0.25 validates on fewer "
                              "batches")  # fmt: skip

    def train_fold(self, context: FitContext, fold: int) -> dict | None:
        """Train one fold, predict its validation rows with the best checkpoint, write its results (rank 0)."""
        import lightning as L

        cfg, layout, datamodule = context.cfg, context.layout, context.datamodule
        L.seed_everything(cfg.seed + fold, workers=True, verbose=False)
        datamodule.set_fold(fold)
        model = context.model_class(**datamodule.model_kwargs(), **cfg.model.as_dict())
        if is_global_zero():
            write_yaml(layout.fold_dir(fold) / "config.yaml", context.config)  # what this fold was trained with
        trainer, checkpoint, wandb_logger = self.build_trainer(context, fold)
        last = layout.checkpoint(fold, "last")
        resume_from = str(last) if cfg.resume and last.exists() else None
        info(f"fold {fold}: training on {len(datamodule.train_indices())} rows, validating on "
             f"{len(datamodule.val_indices())}{f' (resuming {last})' if resume_from else ''}")  # fmt: skip
        started = time.time()
        interruptible(trainer, "fit", model, datamodule=datamodule, ckpt_path=resume_from)
        seconds = time.time() - started
        # Out-of-fold predictions with the best checkpoint (the in-memory weights under fast_dev_run).
        has_best = bool(checkpoint.best_model_path) and Path(checkpoint.best_model_path).exists()
        outputs = predict_outputs(trainer, model, datamodule.prediction_data("val"), ckpt_path="best" if has_best else None)
        index, preds = gather_predictions(outputs, context.spec.prediction_key)
        if not has_best:  # every process: save_checkpoint waits for all of them (rank 0 writes)
            trainer.save_checkpoint(layout.checkpoint(fold, "best"))
            info(f"fold {fold}: no checkpoint was monitored (fast_dev_run?); saved the final weights as best.ckpt")
        if not is_global_zero():
            return None
        best = checkpoint.best_model_score
        metrics = self.record_fold(context, fold, index, preds, float(best) if best is not None else None,
                                   trainer.current_epoch, seconds)  # fmt: skip
        if context.tracker is not None:
            self.track_fold(context, fold, wandb_logger, metrics, index, preds)
        replan_budget(context, fold, seconds, trainer.current_epoch)
        return metrics

    @staticmethod
    def build_trainer(context: FitContext, fold: int):
        """(a fresh Trainer for ``fold``, its checkpoint callback, its W&B logger or None): compete's
        checkpoints, RNG state, progress bar, early stopping and CSV log, then the user's callbacks and loggers."""
        import lightning as L
        from lightning.pytorch.loggers import CSVLogger

        spec, cfg, fold_dir = context.spec, context.cfg, context.layout.fold_dir(fold)
        kwargs, user_callbacks, user_loggers = trainer_kwargs(cfg)
        checkpoint = fold_checkpoint(spec, fold_dir)
        bar = [fold_progress_bar()] if kwargs.get("enable_progress_bar") is not False else []
        callbacks = [checkpoint, rng_state(), shared_run_folder(context.layout.root), freed_memory_returned(), *bar,
                     *user_callbacks]  # fmt: skip
        pending = [k for k in context.selected if k not in context.done]
        if not cfg.budget and pending and fold == pending[0] and not kwargs.get("fast_dev_run"):
            callbacks.append(run_estimate(len(pending)))  # the first fold this fit trains: how long all will take
        plan = context.plan
        if cfg.budget and plan is not None and pending and fold == pending[-1] and plan.processes == 1 \
                and cfg.get("fold_parallel") is None:  # fmt: skip
            callbacks.append(budget_guard(plan, context.deadline, fold))  # no fold follows to re-plan: it corrects itself
        if cfg.patience is not None:
            callbacks.append(early_stopping(spec, cfg.patience))
        loggers = [CSVLogger(save_dir=str(fold_dir), name="", version="logs"), *user_loggers]
        wandb_logger = context.tracker.fold_logger(fold) if context.tracker is not None else None
        trainer = L.Trainer(**kwargs, default_root_dir=str(fold_dir), callbacks=callbacks,
                            logger=[*loggers, *([wandb_logger] if wandb_logger else [])])  # fmt: skip
        return trainer, checkpoint, wandb_logger

    @staticmethod
    def record_fold(context: FitContext, fold: int, index, preds, best: float | None, epochs: int, seconds: float) -> dict:
        """The fold's fitted preprocessing (tables), OOF predictions and metrics.json."""
        spec, datamodule, classes = context.spec, context.datamodule, context.datamodule.class_names
        datamodule.save_fitted_preprocessing(context.layout.fold_dir(fold))  # predict does not refit it
        result = FoldResult(fold, oof_frame(spec, classes, datamodule.train_table, fold, index, preds), best, epochs,
                            seconds, len(datamodule.train_indices()))  # fmt: skip
        metrics = result.write(spec, classes, context.layout)
        info(f"fold {fold}: OOF {spec.metric.name} = {metrics['score']:.4f} ({len(index)} rows, {seconds:.0f}s)")
        return metrics

    @staticmethod
    def track_fold(context: FitContext, fold: int, logger, metrics: dict, index, preds) -> None:
        """The fold's results into its W&B run: scores, the OOF confusion matrix, the augmented images."""
        spec, datamodule = context.spec, context.datamodule
        confusion = picture = None
        if spec.task == "classification" and not spec.multi_label:
            confusion = (datamodule.train_table["target"].to_numpy()[index], preds.argmax(axis=1), datamodule.class_names)
            if fold == context.selected[0] and not spec.tabular:  # images only
                from competitions.pipeline.show import draw_augmented

                picture = draw_augmented(spec, datamodule, context.cfg.model.as_dict(), 16, context.cfg.seed,
                                         context.layout.augmented)  # fmt: skip
        context.tracker.finish_fold(fold, logger, metrics, confusion, picture)

    def model_file(self, layout: RunLayout, fold: int, checkpoint: str = "best") -> Path:
        return layout.checkpoint(fold, checkpoint)

    def predict_test(self, prediction, fold: int, tta: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        model = prediction.load(fold)
        check_classes(model, prediction.datamodule.class_names, prediction.checkpoints[fold])
        return prediction.predict(predictor(model, tta), fold, "test", prediction.spec.prediction_key)


def replan_budget(context: FitContext, fold: int, seconds: float, epochs: int) -> None:
    """`budget`, one process: the folds still to train get the epochs (and batches) the trained fold's
    measured time allows (a probe of a few steps misjudges an epoch; a fold has measured one). Under DDP or
    fold-parallel training every process keeps the plan it was given (they must agree)."""
    from competitions.pipeline.fit import set_epochs
    from competitions.pipeline.fit_budget import replan

    plan = context.plan
    pending = [k for k in context.selected if k not in context.done and k > fold]
    if plan is None or not pending or plan.processes > 1 or context.cfg.get("fold_parallel") is not None:
        return
    context.plan = now = replan(plan, seconds, epochs, len(pending), context.deadline - time.time())
    if (now.epochs, now.batches()) != (plan.epochs, plan.batches()):
        batches = lambda p: f" of {p.batches()} batches" if p.batches() < p.train_steps else ""  # noqa: E731
        info(f"budget: fold {fold} trained {epochs} epochs in {seconds:.0f}s; {now.epochs} epochs{batches(now)} per fold "
             f"for the {len(pending)} fold{'s' if len(pending) > 1 else ''} still to train (was {plan.epochs}"
             f"{batches(plan)})")  # fmt: skip
        set_epochs(context, now.epochs, now.batches())


def predictor(model, tta: list[str] | None, keep_views: bool = False):
    """The model itself (its own TTA recipe), or the model wrapped in the TTA views ``tta``."""
    if tta is None:
        return model
    from lightning_modules.tta import TTA

    return TTA(model, tta, merge=model.hparams.get("tta_merge", "mean"), keep_views=keep_views)


def check_classes(model, classes, ckpt: Path) -> None:
    """A classifier's checkpoint must know the classes the data has now, in the same order."""
    trained = list(model.hparams.get("class_names") or [])
    if classes and trained and trained != list(classes):
        changed = next((a, b) for a, b in zip([*trained, None], [*classes, None], strict=False) if a != b)
        raise CompeteError(
            f"{ckpt}: trained on {len(trained)} classes, the data now has {len(classes)} "
            f"(first difference: {changed[0]!r} vs {changed[1]!r}); was train.csv changed?"
        )


def check_ladder(cfg) -> None:
    """A budget ladder rung names model settings (``model.backbone: resnet9_tiny``) and, for images, a smaller
    ``data.image_size`` (a whole number of pixels)."""
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    for n, rung in enumerate(cfg.get("budget_ladder") or [], start=1):
        for key, value in rung.items():
            if key == "data.image_size" and "image_size" in data:
                if not isinstance(value, int) or isinstance(value, bool) or not 8 <= value <= int(data["image_size"]):
                    raise OptionError(f"`budget_ladder` rung {n}: data.image_size {value!r} is not a whole number of "
                                      f"pixels from 8 to the images' {data['image_size']}")  # fmt: skip
            elif not key.startswith("model.") or key.removeprefix("model.") not in model:
                raise OptionError(f"`budget_ladder` rung {n}: {key} is not a model setting or data.image_size; a rung "
                                  "names model.* settings (e.g. model.backbone: resnet9_tiny) or, for images, a "
                                  "smaller data.image_size")  # fmt: skip
