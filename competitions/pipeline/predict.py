"""Prediction: every fold's checkpoint predicts the test set, the folds are averaged (and, for log
loss, calibrated on the out-of-fold predictions), and a validated submission.csv is written."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from competitions.core.artifacts import read_json, read_yaml, write_csv, write_json
from competitions.core.console import info
from competitions.core.errors import CompeteError
from competitions.core.interrupts import deferred_interrupts
from competitions.core.layout import RunLayout
from competitions.core.ranks import is_global_zero
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import build_datamodule, model_class
from competitions.pipeline.fit_callbacks import fold_progress_bar, freed_memory_returned, predict_outputs
from competitions.pipeline.fit_parser import check_strategy, supported_precision
from competitions.pipeline.folds import FoldTrainer, fold_trainer_for
from competitions.pipeline.oof import (
    every_fold,
    gather_predictions,
    oof_truth_and_predictions,
    read_oof,
    run_fold_count,
    select_folds,
)
from competitions.pipeline.quiet import quiet_library_noise
from competitions.pipeline.records import Submission
from competitions.pipeline.run_record import budget_plans
from submissions.averaging import average_predictions
from submissions.calibrate import Calibration, fit_calibration
from submissions.ledger import sha256
from submissions.submission_file import FLOAT_FORMAT, write_submission
from submissions.validate import read_submission_csv

AUTO_TTA_CANDIDATES = ("hflip", "vflip", "shift", "five_crop", "scale")


@dataclass
class PredictOptions:
    """How to predict a run; every ``None`` means "as the run was trained"."""

    folds: str = "all"
    checkpoint: str = "best"  # or "last"
    tta: str | list[str] | None = None  # None: the run's model.tta; "none", "auto", or view names
    calibrate: str = "auto"  # or "none"
    data_dir: str | None = None
    accelerator: str | None = None
    devices: int | str = 1
    strategy: str = "auto"
    precision: str | None = None
    threads: int | None = None
    batch_size: int | None = None
    num_workers: int | None = None
    limit_batches: int | None = None  # predict only this many batches (compete package's timing of a sample)


@dataclass
class Prediction:
    """One run being predicted: its layout and config, the DataModule, the fold checkpoints."""

    spec: CompetitionSpec
    layout: RunLayout
    config: dict
    options: PredictOptions
    datamodule: object
    checkpoints: dict[int, Path]  # fold -> the file its model is loaded from
    model_class: type
    fold_trainer: FoldTrainer

    def trainer(self):
        import lightning as L

        trained = self.config.get("trainer") or {}
        return L.Trainer(
            accelerator=self.options.accelerator or trained.get("accelerator", "auto"),
            devices=self.options.devices,
            strategy=self.options.strategy,
            precision=supported_precision(self.options.precision or trained.get("precision") or "32-true",
                                          self.options.accelerator or trained.get("accelerator", "auto")),
            logger=False,
            callbacks=[fold_progress_bar(), freed_memory_returned()],
            enable_checkpointing=False,
            limit_predict_batches=self.options.limit_batches,
        )

    def load(self, fold: int):
        return self.model_class.load_for_prediction(self.checkpoints[fold])

    def predict(self, model, fold: int, split: str, key: str) -> tuple:
        """(row index, predictions under ``key``) of ``split`` ("val" or "test") of ``fold``."""
        self.datamodule.set_fold(fold)
        outputs = predict_outputs(self.trainer(), model, self.datamodule.prediction_data(split))
        return gather_predictions(outputs, key)


def predict_run(spec: CompetitionSpec, run: str | Path, options: PredictOptions | None = None) -> Submission | None:
    """Predict the test set with the folds of ``run``; the validated submission (None on ranks other than 0)."""
    options = options or PredictOptions()
    quiet_library_noise()
    if options.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(options.threads)  # DDP's re-launched processes inherit it
        torch.set_num_threads(options.threads)
    check_strategy(options.strategy, options.devices, options.accelerator)
    if parse_tta(options.tta) and not model_class(spec).supports_tta:  # options first, then the files
        raise CompeteError(f"`tta` {options.tta}: {spec.slug} models take no test-time augmentation")
    prediction = open_run(spec, RunLayout(Path(run)), options)
    tta = resolve_tta(prediction) if prediction.model_class.supports_tta else None
    staged = StagedPrediction(prediction.layout) if is_global_zero() else None
    try:
        for fold in prediction.checkpoints:
            predict_test_fold(prediction, fold, tta, staged)
        if staged is None:
            return None
        return write_run_submission(prediction, staged)
    finally:
        if staged is not None:
            staged.discard()


class StagedPrediction:
    """One predict's files (test/fold<k>.csv, submission.csv), written to test/.incoming-PID/ and moved into
    place together at the end, with test/manifest.json naming each file's sha256. An interrupted predict
    leaves the run's earlier files as they were; a kill -9 in the middle of the moves leaves files the
    manifest does not match, which every reader refuses (see ``predicted_test_files``)."""

    def __init__(self, layout: RunLayout) -> None:
        self.layout = layout
        self.dir = layout.root / "test" / f".incoming-{os.getpid()}"
        for stale in layout.root.glob("test/.incoming-*"):  # left by a predict killed with kill -9
            if not _alive(stale.name.rsplit("-", 1)[-1]):
                shutil.rmtree(stale, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    def fold(self, k: int) -> Path:
        return self.dir / self.layout.test_predictions(k).name

    @property
    def submission(self) -> Path:
        return self.dir / self.layout.submission.name

    def commit(self, manifest: dict) -> None:
        """The manifest first (each file's sha256), then the files; Ctrl-C waits until all are in place."""
        files = {path.name: sha256(path) for path in sorted(self.dir.glob("fold*.csv"))}
        manifest = {**manifest, "files": files, "submission_sha256": sha256(self.submission)}
        with deferred_interrupts():
            write_json(self.layout.test_manifest, manifest)
            for name in files:
                os.replace(self.dir / name, self.layout.root / "test" / name)
            os.replace(self.submission, self.layout.submission)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def predicted_test_files(layout: RunLayout) -> list[Path] | None:
    """The test/fold<k>.csv files that made the run's submission, as test/manifest.json lists them, each
    checked against the sha256 it recorded; None when the run has no manifest (predicted by an older compete)."""
    if not layout.test_manifest.exists():
        return None
    manifest = read_json(layout.test_manifest)
    paths = [layout.test_predictions(k) for k in manifest["folds"]]
    recorded = manifest.get("files") or {}  # manifests of older compete versions have no hashes
    for path in paths:
        if path.name in recorded and (not path.exists() or sha256(path) != recorded[path.name]):
            raise CompeteError(f"{path}: not the file {layout.test_manifest} records (a predict was killed while "
                               f"moving its files into place?); run `compete predict` on {layout.root} again")  # fmt: skip
    return paths


def planned_folds(config: dict, folds: str | None, wanted: list[int], available: dict) -> list[int]:
    """`folds` all of a run whose budget plan trained fewer folds on purpose (config.yaml's history): the
    folds it trained; otherwise ``wanted`` as asked (a missing fold is then an error)."""
    left = set(wanted) - set(available)
    left_out = {int(k) for plan in budget_plans(config.get("history")) for k in plan.get("left_out") or []}
    if not available or not left or not left <= left_out or not every_fold(folds):
        return wanted
    info(f"folds {','.join(map(str, sorted(left)))}: left untrained by the fit's budget plan; predicting with "
         f"{','.join(map(str, sorted(available)))}")  # fmt: skip
    return sorted(available)


def open_run(spec: CompetitionSpec, layout: RunLayout, options: PredictOptions) -> Prediction:
    if not layout.config.exists():
        raise CompeteError(f"{layout.config}: not found; --run must be a directory written by compete fit")
    config = read_yaml(layout.config)
    data_cfg = dict(config.get("data") or {})
    data_cfg.update({k: v for k, v in (("batch_size", options.batch_size), ("num_workers", options.num_workers)) if v})
    datamodule = build_datamodule(spec, options.data_dir or config["data_dir"], layout.runs_dir, **data_cfg)
    datamodule.check_layout()
    n_folds = int(config["n_folds"])
    wanted = select_folds(options.folds, run_fold_count(config))
    family_class = model_class(spec, config.get("family"))
    fold_trainer = fold_trainer_for(family_class)
    checkpoints = {k: fold_trainer.model_file(layout, k, options.checkpoint) for k in wanted}
    available = {k: p for k, p in checkpoints.items() if p.exists()}
    wanted = planned_folds(config, options.folds, wanted, available)
    if not available:
        name = checkpoints[wanted[0]].name
        raise CompeteError(f"{layout.root}: no {name} in any of fold{','.join(map(str, wanted))}")
    if len(available) < len(wanted):  # a subset only when `folds` names it
        missing = sorted(set(wanted) - set(available))
        others = ",".join(map(str, available))
        raise CompeteError(f"{checkpoints[missing[0]]}: not found (fold {missing[0]} was not trained or its checkpoint "
                           f"was removed); finish it with compete fit's `resume`, or set `folds` to {others}")  # fmt: skip
    check_writable(layout.root / "test")
    from competitions.pipeline.fit import check_fingerprint

    check_fingerprint(datamodule, layout.config, (config.get("meta") or {}).get("data_sha256"))
    for k in available:  # tables: the folds' fitted preprocessing, not refitted
        datamodule.use_fitted_preprocessing(k, layout.fold_dir(k))
    # The run's folds: a tabular model's preprocessing is fitted on its fold's training rows.
    datamodule.ensure_folds(layout.folds, n_folds, int(config.get("seed", 0)), write=False,
                            n_repeats=int(config.get("n_repeats") or 1))  # fmt: skip
    if is_global_zero():
        datamodule.prepare_split("test")  # before DDP starts the other processes: they find the cache built
    return Prediction(spec, layout, config, options, datamodule, available, family_class, fold_trainer)


def check_writable(folder: Path) -> None:
    """Fail before any work when the run cannot take the predictions."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise CompeteError(f"{folder}: cannot write the predictions there ({err.strerror})") from None


def parse_tta(value: str | list[str] | None) -> list[str] | str | None:
    """None (the run's recipe), [] (none), "auto", or a list of view names."""
    if value is None or isinstance(value, list):
        return value
    text = value.strip().lower()
    if text in ("none", "off", ""):
        return []
    if text == "auto":
        return "auto"
    return [part.strip() for part in text.split(",") if part.strip()]


def resolve_tta(prediction: Prediction) -> list[str] | None:
    tta = parse_tta(prediction.options.tta)
    if tta == "auto":
        tta = choose_tta(prediction)
    return tta


def predict_test_fold(prediction: Prediction, fold: int, tta: list[str] | None, staged: StagedPrediction | None) -> None:
    index, preds = prediction.fold_trainer.predict_test(prediction, fold, tta)
    test_table = prediction.datamodule.test_table
    frame = pd.DataFrame(preds.reshape(len(index), -1), columns=prediction.spec.prediction_columns(prediction.datamodule.class_names))
    frame.insert(0, "id", test_table["id"].to_numpy()[index])
    if len(frame) != len(test_table):
        raise CompeteError(f"fold {fold}: predicted {len(frame)} of {len(test_table)} test rows")
    if staged is not None:
        write_csv(staged.fold(fold), frame, float_format=FLOAT_FORMAT)


def write_run_submission(prediction: Prediction, staged: StagedPrediction) -> Submission:
    """Average the written fold predictions (calibrated for log loss), write and validate submission.csv,
    then move the fold files and the submission into place together."""
    spec, layout, classes = prediction.spec, prediction.layout, prediction.datamodule.class_names
    columns = spec.prediction_columns(classes)
    folds = list(prediction.checkpoints)
    # Average what was written (the same rounding every reader of test/fold<k>.csv sees).
    written = [pd.read_csv(staged.fold(k), dtype={"id": str}) for k in folds]
    if prediction.options.calibrate == "auto" and spec.metric.name == "log_loss":
        calibration = calibrate(spec, classes, layout, folds)
        for frame in written:
            frame[columns] = calibration.apply(frame[columns].to_numpy(dtype=float))
    preds = average_predictions(written, columns, log_scale=spec.log_scale)
    sample_path = Path(prediction.options.data_dir or prediction.config["data_dir"]) / spec.sample_submission
    frame = write_submission(spec, preds, read_submission_csv(sample_path), staged.submission, classes)
    staged.commit({"folds": folds, "checkpoint": prediction.options.checkpoint, "tta": prediction.options.tta,
                   "calibrate": prediction.options.calibrate, "submission": layout.submission.name})  # fmt: skip
    from competitions.pipeline.tracking import log_quietly

    log_quietly(layout, {"submission/rows": len(frame)}, artifact=layout.submission)
    info(f"submission: {layout.submission} ({len(frame)} rows, folds {','.join(map(str, folds))} averaged) "
         f"- valid against {sample_path}")  # fmt: skip
    return Submission(spec.slug, layout.submission, frame, sample_path, {"folds": folds})


def calibrate(spec: CompetitionSpec, classes, layout: RunLayout, folds: list[int]) -> Calibration:
    """Temperature and floor fitted on the pooled OOF predictions of ``folds``; written to calibration.json."""
    done = [k for k in folds if layout.oof(k).exists()]
    if not done:
        raise CompeteError(f"{layout.root}: no fold<k>/oof.csv to calibrate on; set `calibrate` to none")
    y_true, probs = oof_truth_and_predictions(spec, classes, read_oof(spec, classes, layout, done))
    calibration = fit_calibration(probs, y_true)
    write_json(layout.calibration, {"folds": done, **calibration.as_dict()})
    info(
        f"calibration on {calibration.oof_rows} OOF rows: temperature {calibration.temperature:.3f}, "
        f"floor {calibration.clip:g}; OOF log loss {calibration.log_loss_before:.4f} -> "
        f"{calibration.log_loss_after_temperature:.4f} (temperature) -> {calibration.log_loss_after:.4f} (floor)"
    )
    return calibration


def choose_tta(prediction: Prediction) -> list[str]:
    """Pick the TTA views on the pooled out-of-fold predictions; record the choice in tta.json."""
    import torch

    from competitions.pipeline.folds_lightning import predictor
    from lightning_modules.tta import select_views

    spec, layout = prediction.spec, prediction.layout
    rows, per_view, view_names = [], [], []
    for fold in prediction.checkpoints:
        wrapped = predictor(prediction.load(fold), ["identity", *AUTO_TTA_CANDIDATES], keep_views=True)
        index, views = prediction.predict(wrapped, fold, "val", "views")
        rows.append(index)
        per_view.append(views)
        view_names = wrapped.view_names
    index = np.concatenate(rows)
    y_true = prediction.datamodule.targets[index]  # class indices, or multi-hot rows (multi-label)
    merge = (prediction.config.get("model") or {}).get("tta_merge", "mean")
    chosen, steps = select_views(
        torch.as_tensor(np.concatenate(per_view)),
        view_names,
        AUTO_TTA_CANDIDATES,
        score=lambda probs: spec.metric(y_true, probs.numpy()),
        better=spec.metric.better,
        merge=merge,
    )
    write_json(layout.tta, {"metric": spec.metric.name, "merge": merge, "oof_rows": int(len(index)), "steps": steps,
                            "chosen": chosen})  # fmt: skip
    base, final = steps[0]["score"], next(s["score"] for s in reversed(steps) if s["kept"])
    info(f"tta auto: {'+'.join(chosen)} (pooled OOF {spec.metric.name} {base:.4f} without TTA -> {final:.4f}); "
         f"recorded in {layout.tta}")  # fmt: skip
    return chosen
