"""`compete fit SLUG`: parse the config (YAML presets + dotted overrides) and train every fold."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from competitions.artifacts import run_metadata, write_csv, write_yaml
from competitions.errors import CompeteError, RunExistsError
from competitions.kfold import (
    RunLayout,
    gather_predictions,
    is_global_zero,
    oof_frame,
    prediction_key,
    progress_bar,
    summarise_cv,
    write_fold_results,
)
from competitions.spec import CompetitionSpec
from datamodules.folds import parse_fold_selection

# Trainer arguments the runner owns (one fresh Trainer per fold, its own checkpoints and logs).
TRAINER_SKIP = {"callbacks", "logger", "default_root_dir", "enable_checkpointing", "plugins"}
MODEL_SKIP = {"num_classes", "class_names", "num_features", "target_mean", "target_std"}
DATA_SKIP = {"data_dir", "cache_dir"}


def resolve_presets(spec: CompetitionSpec, argv: list[str]) -> list[str]:
    """Let ``--config NAME`` name one of the competition's bundled presets (debug, default, ...)."""
    out = list(argv)
    for i, arg in enumerate(out):
        value = None
        if arg == "--config" and i + 1 < len(out):
            value, slot = out[i + 1], i + 1
        elif arg.startswith("--config="):
            value, slot = arg.split("=", 1)[1], i
        if value is None:
            continue
        # A bare name (no .yaml) is a preset even when a folder of that name exists (e.g. ./demo).
        is_preset = spec.preset_path(value).exists() and not value.endswith((".yaml", ".yml"))
        if not is_preset and Path(value).is_file():
            continue
        if is_preset:
            path = str(spec.preset_path(value))
            out[slot] = path if slot != i else f"--config={path}"
        else:
            raise CompeteError(
                f"--config {value}: no such file, and not a {spec.slug} preset ({', '.join(spec.presets())})"
            )
    return out


def fit_parser(spec: CompetitionSpec) -> ArgumentParser:
    import lightning as L

    parser = ArgumentParser(
        prog=f"compete fit {spec.slug}",
        description=(
            f"Train k-fold models for {spec.slug}. Settings come from the preset "
            f"{spec.preset_path('default').name} ({spec.config_dir}), then --config files, then "
            "dotted overrides, e.g. --trainer.devices=4 --trainer.strategy=ddp --model.lr=0.05."
        ),
        default_config_files=[str(spec.preset_path("default"))],
        exit_on_error=False,
    )
    parser.add_argument(
        "--config", action=ActionConfigFile, help=f"a YAML file, or a preset name: {', '.join(spec.presets())}"
    )
    parser.add_argument(
        "--data-dir", type=str, default=f"data/{spec.slug}", help="the competition folder as Kaggle ships it"
    )
    parser.add_argument(
        "--experiment", type=str, default="baseline", help="run name: artifacts go to RUNS_DIR/SLUG/EXPERIMENT"
    )
    parser.add_argument("--runs-dir", type=str, default="runs", help="root of all runs")
    parser.add_argument("--folds", type=str, default="all", help="folds to train: all, or e.g. 0,2")
    parser.add_argument("--n-folds", type=int, default=5, help="k of k-fold (must match an existing folds.csv)")
    parser.add_argument(
        "--seed", type=int, default=42, help="seed of the fold split and of training (fold k uses seed+k)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an existing run: skip finished folds, resume others from last.ckpt",
    )
    parser.add_argument(
        "--patience",
        type=int | None,
        default=None,
        help=f"early stopping: end a fold after this many validation rounds without a better {spec.monitor}",
    )
    parser.add_argument(
        "--logger",
        type=str,
        default="csv",
        choices=["csv", "wandb"],
        help="csv: fold<k>/logs/metrics.csv only; wandb: also Weights & Biases (project = competition, group = "
        "experiment, one run per fold + a cv run; offline under RUN_DIR/wandb without a W&B login)",
    )
    parser.add_argument("--meta", type=dict | None, default=None, help="(written by compete: git commit, versions)")
    parser.add_class_arguments(L.Trainer, "trainer", skip=TRAINER_SKIP, instantiate=False, sub_configs=True)
    parser.add_class_arguments(spec.model_class(), "model", skip=MODEL_SKIP, instantiate=False, sub_configs=True)
    parser.add_class_arguments(spec.datamodule_class(), "data", skip=DATA_SKIP, instantiate=False, sub_configs=True)
    return parser


def parse_fit_args(spec: CompetitionSpec, argv: list[str]) -> tuple[ArgumentParser, Namespace]:
    parser = fit_parser(spec)
    argv = resolve_presets(spec, argv)
    cfg = parser.parse_args(argv)
    if cfg.resume:
        run_config = Path(cfg.runs_dir) / spec.slug / cfg.experiment / "config.yaml"
        if not run_config.exists():
            raise CompeteError(f"--resume: {run_config} does not exist; nothing to resume")
        # The run's own config first, then whatever the command line overrides.
        cfg = parser.parse_args(["--config", str(run_config), *argv])
    return parser, cfg


def _trainer_kwargs(cfg: Namespace) -> dict[str, Any]:
    return {k: v for k, v in cfg.trainer.as_dict().items()}


def run_fit(spec: CompetitionSpec, argv: list[str]) -> dict | None:
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    parser, cfg = parse_fit_args(spec, argv)
    layout = RunLayout(Path(cfg.runs_dir) / spec.slug / cfg.experiment)
    data_dir = Path(cfg.data_dir).resolve()

    datamodule = spec.datamodule_class()(
        data_dir=str(data_dir), cache_dir=str(Path(cfg.runs_dir).resolve() / spec.slug / "cache"), **cfg.data.as_dict()
    )
    datamodule.check_layout()
    datamodule.train_table  # noqa: B018 - reads and checks the labels before any work starts
    datamodule.test_table  # noqa: B018 - and the test files: better now than after hours of training

    rank_zero = is_global_zero()
    if rank_zero and layout.root.exists() and any(layout.root.iterdir()) and not cfg.resume:
        raise RunExistsError(
            f"{layout.root} already exists; pass --resume to continue it, or --experiment NEW_NAME for a new run"
        )
    if rank_zero:
        # Decode (and so check) every training image before the run directory is created.
        datamodule.prepare_data()
    # Folds: the competition-wide folds.csv (shared by all experiments), copied into the run.
    shared_folds = Path(cfg.runs_dir) / spec.slug / "folds.csv"
    folds_source = layout.folds if layout.folds.exists() else shared_folds
    folds = datamodule.ensure_folds(folds_source, cfg.n_folds, cfg.seed, write=rank_zero)
    selected = parse_fold_selection(cfg.folds, cfg.n_folds)
    done = set(layout.done_folds()) if cfg.resume else set()

    if rank_zero:
        cfg.meta = run_metadata(["fit", spec.slug, *argv])
        cfg.data_dir = str(data_dir)
        layout.root.mkdir(parents=True, exist_ok=True)
        write_yaml(layout.config, _config_dict(parser, cfg))
        if not layout.folds.exists():
            write_csv(layout.folds, folds)
        print(f"run: {layout.root}  folds: {','.join(map(str, selected))} of {cfg.n_folds}", file=sys.stderr)

    table = datamodule.train_table
    classes = datamodule.class_names
    tracker = None
    if cfg.logger == "wandb":
        from competitions.tracking import Tracker

        tracker = Tracker(spec.slug, cfg.experiment, layout, _config_dict(parser, cfg))
    for fold in selected:
        if fold in done:
            if rank_zero:
                print(f"fold {fold}: already finished (metrics.json), skipping", file=sys.stderr)
            continue
        fold_dir = layout.fold_dir(fold)
        L.seed_everything(cfg.seed + fold, workers=True, verbose=False)
        datamodule.set_fold(fold)
        model = spec.model_class()(**datamodule.model_kwargs(), **cfg.model.as_dict())
        checkpoint = ModelCheckpoint(
            dirpath=fold_dir,
            filename="best",
            monitor=spec.monitor,
            mode=spec.monitor_mode,
            save_last=True,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        )
        callbacks = [checkpoint, progress_bar()]
        if cfg.patience is not None:
            callbacks.append(EarlyStopping(monitor=spec.monitor, mode=spec.monitor_mode, patience=cfg.patience))
        loggers = [CSVLogger(save_dir=str(fold_dir), name="", version="logs")]
        if tracker is not None:
            loggers.append(tracker.fold_logger(fold))
        trainer = L.Trainer(
            **_trainer_kwargs(cfg),
            default_root_dir=str(fold_dir),
            callbacks=callbacks,
            logger=loggers,
        )
        last = fold_dir / "last.ckpt"
        resume_from = str(last) if cfg.resume and last.exists() else None
        if rank_zero:
            how = f" (resuming {last})" if resume_from else ""
            print(
                f"fold {fold}: training on {len(datamodule.train_indices())} rows, "
                f"validating on {len(datamodule.val_indices())}{how}",
                file=sys.stderr,
            )
        started = time.time()
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        seconds = time.time() - started

        # Out-of-fold predictions with the best checkpoint (the in-memory weights under fast_dev_run).
        datamodule.predict_split = "val"
        has_best = bool(checkpoint.best_model_path) and Path(checkpoint.best_model_path).exists()
        outputs = trainer.predict(model, datamodule=datamodule, ckpt_path="best" if has_best else None)
        datamodule.predict_split = "test"
        index, preds = gather_predictions(outputs, prediction_key(spec))
        if trainer.is_global_zero:
            if not has_best:
                trainer.save_checkpoint(fold_dir / "best.ckpt")
                print(
                    f"fold {fold}: no checkpoint was monitored (fast_dev_run?); saved the final weights as best.ckpt",
                    file=sys.stderr,
                )
            best = checkpoint.best_model_score
            metrics = write_fold_results(
                spec,
                classes,
                layout,
                fold,
                oof_frame(spec, classes, table, fold, index, preds),
                float(best) if best is not None else None,
                trainer.current_epoch,
                seconds,
                len(datamodule.train_indices()),
            )
            print(
                f"fold {fold}: OOF {spec.metric.name} = {metrics['score']:.4f} ({len(index)} rows, {seconds:.0f}s)",
                file=sys.stderr,
            )
            if tracker is not None:
                pictures = _pictures(spec, datamodule, classes, index, preds, cfg, fold == selected[0], layout)
                tracker.finish_fold(fold, loggers[1], metrics, *pictures)

    if not is_global_zero():
        return None
    summary = summarise_cv(spec, classes, layout, cfg.n_folds)
    print_cv(spec, layout, summary)
    if tracker is not None:
        tracker.finish_cv(summary)
    return summary


def _pictures(spec: CompetitionSpec, datamodule, classes, index, preds, cfg: Namespace, grid: bool, layout):
    """(confusion-matrix inputs, augmented-images PNG or None) for a classification fold; (None, None) otherwise."""
    if spec.task != "classification":
        return None, None
    confusion = (datamodule.train_table["target"].to_numpy()[index], preds.argmax(axis=1), classes)
    picture = None
    if grid:
        from competitions.show import draw_augmented

        picture = draw_augmented(spec, datamodule, cfg.model.as_dict(), 16, cfg.seed, layout.root / "augmented.png")
    return confusion, picture


def _config_dict(parser: ArgumentParser, cfg: Namespace) -> dict:
    """The resolved config as plain YAML data; it parses back with --config (used by --resume)."""
    out = yaml.safe_load(parser.dump(cfg, skip_check=True))
    # Per-invocation choices (which folds, resume or not) are in meta.command, not in the config.
    for key in ("config", "folds", "resume"):
        out.pop(key, None)
    return out


def print_cv(spec: CompetitionSpec, layout: RunLayout, summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{spec.slug} / {layout.root.name}: {spec.metric.name} "
        f"({'higher' if spec.metric.direction == 'max' else 'lower'} is better)"
    )
    table.add_column("fold")
    table.add_column(spec.metric.name, justify="right")
    for k, score in summary["folds"].items():
        table.add_row(k, f"{score:.4f}")
    table.add_row("mean ± std", f"{summary['mean']:.4f} ± {summary['std']:.4f}")
    table.add_row("pooled OOF", f"{summary['oof']:.4f}")
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 100)
    console.print(table)
    if not summary["complete"]:
        console.print(
            f"{len(summary['folds'])} of {summary['n_folds']} folds done; finish with --resume --folds <the rest>"
        )
    console.print(f"artifacts: {layout.root}{os.sep}  (config.yaml, folds.csv, fold<k>/best.ckpt, oof.csv, cv.json)")
