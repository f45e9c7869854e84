"""The k-fold training loop: one fresh Trainer per fold, then the fold's out-of-fold predictions.

Under DDP Lightning re-launches the whole command once per process, so every rank walks this loop;
only global rank 0 writes files (config.yaml, folds, oof.csv, metrics.json, cv.json).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from jsonargparse import ArgumentParser, Namespace

from competitions.core.artifacts import read_yaml, run_metadata, write_csv, write_yaml
from competitions.core.console import info
from competitions.core.errors import CompeteError, RunExistsError
from competitions.core.layout import RunLayout, shared_folds
from competitions.core.ranks import is_global_zero
from competitions.core.spec import CompetitionSpec
from competitions.pipeline import history
from competitions.pipeline.callbacks import early_stopping, fold_checkpoint, fold_progress_bar, interruptible, rng_state
from competitions.pipeline.config import config_dict, parse_fit_args, trainer_kwargs
from competitions.pipeline.factory import build_datamodule, is_estimator, model_class
from competitions.pipeline.quiet import quiet_library_noise
from competitions.pipeline.results import (
    FoldResult,
    Run,
    gather_predictions,
    oof_frame,
    select_folds,
    summarise_cv,
)
from competitions.pipeline.runlock import run_lock


@dataclass
class FitContext:
    """Everything the folds of one fit share."""

    spec: CompetitionSpec
    cfg: Namespace
    config: dict  # the resolved config, as written to config.yaml
    layout: RunLayout
    datamodule: object
    selected: list[int]
    done: set[int] = field(default_factory=set)
    tracker: object | None = None

    @property
    def model_class(self) -> type:
        return model_class(self.spec, self.cfg.get("family"))


def fit_from_argv(spec: CompetitionSpec, argv: list[str]) -> Run | None:
    """Parse a fit's options (presets, --config, dotted overrides) and train; None on ranks other than 0.
    (A stack preset is fitted by pipeline/stacking.py's fit_or_stack, which calls this per family.)"""
    quiet_library_noise()
    parser, cfg = parse_fit_args(spec, argv)
    return train(spec, parser, cfg, ["fit", spec.slug, *argv])


def train(spec: CompetitionSpec, parser: ArgumentParser, cfg: Namespace, command: list[str]) -> Run | None:
    layout = RunLayout.of(cfg.runs_dir, spec.slug, check_experiment_name(cfg.experiment))
    started = time.time()
    with contextlib.ExitStack() as stack:
        if is_global_zero():  # DDP's other processes are started by this one, inside the lock
            stack.enter_context(run_lock(layout.root, command))
        estimator = is_estimator(model_class(spec, cfg.get("family")))
        if cfg.budget and estimator:
            raise CompeteError(f"`budget` sets the epochs of a neural network; {cfg.family} has none (it stops early "
                               "on its own): leave budget unset")  # fmt: skip
        context = start_run(spec, parser, cfg, command, layout)
        if cfg.budget:
            stack.callback(forget_budget_plan, apply_budget(context, started))
        try:
            for fold in context.selected:
                if fold in context.done:
                    info(f"fold {fold}: already finished (metrics.json), skipping")
                    continue
                if estimator:
                    from competitions.pipeline.estimators import train_estimator_fold

                    train_estimator_fold(context, fold, context.model_class)
                else:
                    train_fold(context, fold)
        except BaseException as err:  # noqa: BLE001 - recorded, then raised as it was
            if is_global_zero():
                end_history(layout, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed", err)
            raise
        if not is_global_zero():
            return None
        summary = summarise_cv(spec, context.datamodule.class_names, layout, cfg.n_folds)
        stored = read_yaml(layout.config)
        ended = history.finish(stored["history"], layout.done_folds())
        ended[-1]["seconds"] = round(time.time() - started, 1)
        write_yaml(layout.config, {**stored, "history": ended})
    if context.tracker is not None:
        context.tracker.finish_cv(summary)
    return Run(spec.slug, layout.root)


def forget_budget_plan(planned_here: bool) -> None:
    """The plan is for this run's DDP processes only: the next fit in this process (a notebook) plans anew."""
    from competitions.pipeline.budget import PLAN_VARIABLE

    if planned_here:
        os.environ.pop(PLAN_VARIABLE, None)


def apply_budget(context: FitContext, started: float) -> bool:
    """Set trainer.max_epochs so the run fits ``--budget`` (see pipeline/budget.py) and record the plan;
    True when this process made the plan (False: a DDP process that read it)."""
    from competitions.pipeline.budget import (
        PLAN_VARIABLE,
        choose_epochs,
        parse_duration,
        planned_epochs_from_environment,
    )

    cfg, layout = context.cfg, context.layout
    budget = parse_duration(cfg.budget)
    epochs = planned_epochs_from_environment()
    planned_here = epochs is None
    if planned_here:  # the launching process plans; DDP's processes read its plan
        plan = budget_plan(context, budget, started)
        plan.epochs = epochs = choose_epochs(plan)
        os.environ[PLAN_VARIABLE] = str(epochs)
        stored = read_yaml(layout.config)
        write_yaml(layout.config, {**stored, "history": [*stored["history"][:-1], {**stored["history"][-1], "budget": plan.as_dict()}]})
        info(f"budget {cfg.budget}: {epochs} epoch{'s' if epochs > 1 else ''} per fold ({plan.folds} folds; a training step "
             f"{plan.rates.train_step * 1000:.0f} ms, an epoch {plan.epoch_seconds():.1f} s, fixed costs {plan.fixed_seconds():.0f} s)")  # fmt: skip
    cfg.trainer.max_epochs = epochs
    context.config["trainer"]["max_epochs"] = epochs  # what each fold's config.yaml records
    return planned_here


def budget_plan(context: FitContext, budget: float, started: float):
    """Probe the first fold to be trained with a throwaway model, then describe the run for choose_epochs."""
    import lightning as L

    from competitions.pipeline.budget import PROBE_STEPS, Plan, probe, steps

    spec, cfg, datamodule = context.spec, context.cfg, context.datamodule
    folds = [k for k in context.selected if k not in context.done] or context.selected
    datamodule.set_fold(folds[0])
    kwargs, _, _ = trainer_kwargs(cfg)
    probe_kwargs = {**kwargs, "devices": 1, "strategy": "auto", "max_epochs": 2, "max_steps": -1, "logger": False,
                    "limit_train_batches": PROBE_STEPS, "limit_val_batches": PROBE_STEPS, "num_sanity_val_steps": 0,
                    "enable_progress_bar": False, "enable_model_summary": False}  # fmt: skip
    model = context.model_class(**datamodule.model_kwargs(), **cfg.model.as_dict())
    with tempfile.TemporaryDirectory(prefix="compete-probe-") as scratch:  # checkpoints cost time too: keep them
        rates = probe(lambda clock: L.Trainer(**probe_kwargs, default_root_dir=scratch,
                                              callbacks=[clock, fold_checkpoint(spec, Path(scratch))]), model, datamodule)  # fmt: skip
    batch = cfg.data.batch_size
    views = max(1, len(cfg.model.as_dict().get("tta") or []))
    predict_rows = len(datamodule.val_indices()) + len(datamodule.test_table)
    return Plan(
        budget=budget,
        spent_before=time.time() - started,
        folds=len(folds),
        train_steps=steps(len(datamodule.train_indices()), batch, kwargs.get("limit_train_batches"),
                          drop_last=len(datamodule.train_indices()) >= batch),  # the loaders drop a ragged last batch
        eval_steps=steps(len(datamodule.val_indices()), batch, kwargs.get("limit_val_batches")),
        predict_steps=steps(predict_rows, batch, None) * views,
        rates=rates,
    )


def end_history(layout: RunLayout, status: str, err: BaseException) -> None:
    """Mark this fit's history entry as it ended (a kill -9 leaves it 'running': the next resume says interrupted)."""
    with contextlib.suppress(Exception):  # never hide the error being raised
        stored = read_yaml(layout.config)
        last = {**stored["history"][-1], "status": status, "ended": history.now()}
        if status == "failed":
            last["error"] = f"{err.__class__.__name__}: {err}"[:300]
        write_yaml(layout.config, {**stored, "history": [*stored["history"][:-1], last]})


def check_experiment_name(name: str) -> str:
    """An experiment is one folder directly under RUNS_DIR/SLUG: a plain, non-empty name."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
        raise CompeteError(f"`experiment` {name!r} is not a plain folder name (no separators, not empty, not "
                           "starting with a dot)")  # fmt: skip
    return name


def start_run(
    spec: CompetitionSpec, parser: ArgumentParser, cfg: Namespace, command: list[str], layout: RunLayout
) -> FitContext:
    """Check the data, refuse to overwrite a run, persist the folds and config.yaml (rank 0)."""
    data_dir = Path(cfg.data_dir).resolve()
    datamodule = build_datamodule(spec, data_dir, cfg.runs_dir, **cfg.data.as_dict())
    datamodule.check_layout()
    datamodule.train_table  # noqa: B018 - reads and checks the labels before any work starts
    datamodule.test_table  # noqa: B018 - and the test files: better now than after hours of training
    rank_zero = is_global_zero()
    if rank_zero and layout.root.exists() and any(layout.root.iterdir()) and not cfg.resume:
        raise RunExistsError(
            f"{layout.root} already exists; set `resume` to continue it, or choose a new `experiment` name for a new run"
        )
    if rank_zero:
        datamodule.prepare_data()  # decode (and so check) every training image before the run directory exists
    # Folds: the competition-wide folds.csv (shared by all experiments), copied into the run.
    folds_source = layout.folds if layout.folds.exists() else shared_folds(cfg.runs_dir, spec.slug)
    folds = datamodule.ensure_folds(folds_source, cfg.n_folds, cfg.seed, write=rank_zero)
    selected = select_folds(cfg.folds, cfg.n_folds)
    if rank_zero and not cfg.resume:
        cfg.meta = run_metadata(command)
        if hasattr(datamodule, "data_fingerprint"):  # what the fitted preprocessing and models saw
            cfg.meta["data_sha256"] = datamodule.data_fingerprint()
        cfg.data_dir = str(data_dir)
    elif cfg.resume:
        check_fingerprint(datamodule, layout.config, (cfg.meta or {}).get("data_sha256"), cfg.force)
    config = config_dict(parser, cfg)  # what this fit trains with
    if is_estimator(model_class(spec, cfg.get("family"))):  # no Trainer, no epochs: keep config.yaml to what applies
        for key in ("trainer", "patience", "budget"):
            config.pop(key, None)
    if rank_zero:
        layout.root.mkdir(parents=True, exist_ok=True)
        write_yaml(layout.config, record_history(layout, cfg, config, command, selected))
        if not layout.folds.exists():
            write_csv(layout.folds, folds)
        info(f"run: {layout.root}  folds: {','.join(map(str, selected))} of {cfg.n_folds}")
    tracker = None
    if cfg.logger == "wandb":
        from competitions.pipeline.tracking import Tracker

        tracker = Tracker(spec.slug, cfg.experiment, layout, config)
    done = set(layout.done_folds()) if cfg.resume else set()
    return FitContext(spec, cfg, config, layout, datamodule, selected, done, tracker)


def check_fingerprint(datamodule, config_path: Path, recorded: dict | None, force: bool = False) -> None:
    """Refuse to go on with a run whose training CSV changed since it was fitted (its folds' preprocessing
    and models were fitted on the old file); ``force`` lets a resume go on anyway."""
    if not recorded or not hasattr(datamodule, "data_fingerprint"):
        return
    now = datamodule.data_fingerprint()
    changed = [name for name, digest in recorded.items() if now.get(name) != digest]
    if changed and not force:
        name = changed[0]
        raise CompeteError(f"{datamodule.data_dir / name}: changed since the run was fitted (sha256 {recorded[name][:12]} "
                           f"in {config_path}, now {now.get(name, '?')[:12]}); its preprocessing and models were "
                           "fitted on the old file: restore it, or fit a new experiment")  # fmt: skip


def record_history(layout: RunLayout, cfg: Namespace, config: dict, command: list[str], folds: list[int]) -> dict:
    """config.yaml: the settings the run was created with, and its history with this fit appended."""
    if not cfg.resume:
        return {**config, "history": [history.entry("created", command, folds)]}
    created = read_yaml(layout.config)
    changed = history.changes(created, config)
    history.check_resume(changed, cfg.force)
    past = history.settle_interrupted(created.get("history") or [])
    return {**created, "history": [*past, history.entry("resumed", command, folds, changed)]}


def train_fold(context: FitContext, fold: int) -> dict | None:
    """Train one fold, predict its validation rows with the best checkpoint, write its results (rank 0)."""
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    spec, cfg, layout, datamodule = context.spec, context.cfg, context.layout, context.datamodule
    fold_dir = layout.fold_dir(fold)
    L.seed_everything(cfg.seed + fold, workers=True, verbose=False)
    datamodule.set_fold(fold)
    model = context.model_class(**datamodule.model_kwargs(), **cfg.model.as_dict())
    kwargs, user_callbacks, user_loggers = trainer_kwargs(cfg)
    checkpoint = fold_checkpoint(spec, fold_dir)
    bar = [fold_progress_bar()] if kwargs.get("enable_progress_bar") is not False else []
    callbacks = [checkpoint, rng_state(), *bar, *user_callbacks]
    if is_global_zero():
        write_yaml(layout.fold_dir(fold) / "config.yaml", context.config)  # what this fold was trained with
    if cfg.patience is not None:
        callbacks.append(early_stopping(spec, cfg.patience))
    loggers = [CSVLogger(save_dir=str(fold_dir), name="", version="logs"), *user_loggers]
    wandb_logger = context.tracker.fold_logger(fold) if context.tracker is not None else None
    trainer = L.Trainer(**kwargs, default_root_dir=str(fold_dir), callbacks=callbacks,
                        logger=[*loggers, *([wandb_logger] if wandb_logger else [])])  # fmt: skip
    last = layout.checkpoint(fold, "last")
    resume_from = str(last) if cfg.resume and last.exists() else None
    info(f"fold {fold}: training on {len(datamodule.train_indices())} rows, validating on "
         f"{len(datamodule.val_indices())}{f' (resuming {last})' if resume_from else ''}")  # fmt: skip
    started = time.time()
    interruptible(trainer, "fit", model, datamodule=datamodule, ckpt_path=resume_from)
    seconds = time.time() - started
    # Out-of-fold predictions with the best checkpoint (the in-memory weights under fast_dev_run).
    has_best = bool(checkpoint.best_model_path) and Path(checkpoint.best_model_path).exists()
    outputs = interruptible(trainer, "predict", model, datamodule=datamodule.prediction_data("val"),
                            ckpt_path="best" if has_best else None)  # fmt: skip
    index, preds = gather_predictions(outputs, spec.prediction_key)
    if not is_global_zero():
        return None
    if hasattr(datamodule, "save_preprocessor"):  # a table's fitted preprocessing: predict does not refit it
        datamodule.save_preprocessor(layout.preprocessor(fold))
    if not has_best:
        trainer.save_checkpoint(layout.checkpoint(fold, "best"))
        info(f"fold {fold}: no checkpoint was monitored (fast_dev_run?); saved the final weights as best.ckpt")
    best = checkpoint.best_model_score
    classes = datamodule.class_names
    result = FoldResult(fold, oof_frame(spec, classes, datamodule.train_table, fold, index, preds),
                        float(best) if best is not None else None, trainer.current_epoch, seconds,
                        len(datamodule.train_indices()))  # fmt: skip
    metrics = result.write(spec, classes, layout)
    info(f"fold {fold}: OOF {spec.metric.name} = {metrics['score']:.4f} ({len(index)} rows, {seconds:.0f}s)")
    if context.tracker is not None:
        track_fold(context, fold, wandb_logger, metrics, index, preds)
    return metrics


def track_fold(context: FitContext, fold: int, logger, metrics: dict, index, preds) -> None:
    """The fold's results into its W&B run: scores, the OOF confusion matrix, the augmented images."""
    spec, datamodule = context.spec, context.datamodule
    confusion = picture = None
    if spec.task == "classification" and not spec.multi_label:
        confusion = (datamodule.train_table["target"].to_numpy()[index], preds.argmax(axis=1), datamodule.class_names)
        if fold == context.selected[0] and not spec.tabular:  # images only
            from competitions.pipeline.pictures import draw_augmented

            picture = draw_augmented(spec, datamodule, context.cfg.model.as_dict(), 16, context.cfg.seed,
                                     context.layout.augmented)  # fmt: skip
    context.tracker.finish_fold(fold, logger, metrics, confusion, picture)
