"""`compete predict SLUG --run DIR`: every fold checkpoint predicts the test set, folds are averaged,
and a submission is written in the sample submission's order and validated before it is reported."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from jsonargparse import ArgumentParser, Namespace

from competitions.artifacts import atomic_path, read_yaml, write_csv, write_json
from competitions.cli import verb_parser
from competitions.errors import CompeteError
from competitions.kfold import (
    PROBABILITY_FORMAT,
    RunLayout,
    gather_predictions,
    is_global_zero,
    oof_truth_and_predictions,
    prediction_columns,
    prediction_key,
    progress_bar,
    read_oof,
)
from competitions.spec import CompetitionSpec
from datamodules.folds import parse_fold_selection
from submissions.calibrate import Calibration, fit_calibration
from submissions.ensemble import average_predictions, to_submission
from submissions.validate import read_submission_csv, validate_submission


def predict_parser(spec: CompetitionSpec) -> ArgumentParser:
    parser = verb_parser(
        "predict",
        spec,
        "Predict the test set with every fold of a run, average the folds, write a validated submission.csv.",
    )
    parser.add_argument("--run", type=str, required=True, help=f"the run directory, e.g. runs/{spec.slug}/baseline")
    parser.add_argument(
        "--data-dir", type=str | None, default=None, help="competition folder (default: the one the run was trained on)"
    )
    parser.add_argument("--folds", type=str, default="all", help="folds to use: all, or e.g. 0,2")
    parser.add_argument(
        "--checkpoint", type=str, default="best", choices=["best", "last"], help="which checkpoint of each fold"
    )
    parser.add_argument(
        "--tta",
        type=str | None,
        default=None,
        help="test-time views: the run's model.tta (default), none, auto (chosen on the out-of-fold "
        "predictions: a view group is kept only if it improves the pooled OOF score), or a list like hflip,five_crop",
    )
    parser.add_argument(
        "--calibrate",
        type=str,
        default="auto",
        choices=["auto", "none"],
        help="log-loss competitions: fit a temperature and a probability floor on the out-of-fold "
        "predictions and apply them to the test probabilities (auto); none keeps the raw probabilities",
    )
    parser.add_argument("--trainer.accelerator", type=str | None, default=None, help="default: the run's")
    parser.add_argument("--trainer.devices", type=int | str, default=1, help="processes to predict with")
    parser.add_argument("--trainer.strategy", type=str, default="auto")
    parser.add_argument("--trainer.precision", type=str | None, default=None, help="default: the run's")
    parser.add_argument(
        "--threads",
        type=int | None,
        default=None,
        help="CPU threads per process (default: torch's choice; under DDP on CPU Lightning gives each process "
        "cores/processes). CPU kernels round differently with other thread counts: fix this to get bit-identical "
        "predictions from runs with different numbers of processes",
    )
    parser.add_argument("--data.batch_size", type=int | None, default=None, help="default: the run's")
    parser.add_argument("--data.num_workers", type=int | None, default=None, help="default: the run's")
    return parser


def run_predict(spec: CompetitionSpec, argv: list[str]) -> Path | None:
    import lightning as L

    args: Namespace = predict_parser(spec).parse_args(argv)
    if args.threads:
        import os

        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # DDP's re-launched processes inherit it
        torch.set_num_threads(args.threads)
    layout = RunLayout(Path(args.run))
    if not layout.config.exists():
        raise CompeteError(f"{layout.config}: not found; --run must be a directory written by compete fit")
    config = read_yaml(layout.config)
    data_cfg = dict(config.get("data") or {})
    for key in ("batch_size", "num_workers"):
        if args.data[key] is not None:
            data_cfg[key] = args.data[key]
    data_dir = args.data_dir or config["data_dir"]
    runs_root = layout.root.resolve().parent
    datamodule = spec.datamodule_class()(data_dir=data_dir, cache_dir=str(runs_root / "cache"), **data_cfg)
    datamodule.check_layout()

    n_folds = int(config["n_folds"])
    wanted = parse_fold_selection(args.folds, n_folds)
    checkpoints = {k: layout.fold_dir(k) / f"{args.checkpoint}.ckpt" for k in wanted}
    available = {k: p for k, p in checkpoints.items() if p.exists()}
    if not available:
        raise CompeteError(f"{layout.root}: no {args.checkpoint}.ckpt in any of fold{','.join(map(str, wanted))}")
    if args.folds != "all" and len(available) < len(wanted):
        missing = sorted(set(wanted) - set(available))
        raise CompeteError(f"{checkpoints[missing[0]]}: not found (fold {missing[0]} was not trained)")

    trainer_cfg = config.get("trainer") or {}
    model_cls = spec.model_class()

    def load(ckpt: Path):
        overrides = getattr(model_cls, "checkpoint_overrides", dict)()
        return model_cls.load_from_checkpoint(ckpt, map_location="cpu", **overrides)

    def make_trainer() -> L.Trainer:
        return L.Trainer(
            accelerator=args.trainer.accelerator or trainer_cfg.get("accelerator", "auto"),
            devices=args.trainer.devices,
            strategy=args.trainer.strategy,
            precision=args.trainer.precision or trainer_cfg.get("precision") or "32-true",
            logger=False,
            callbacks=[progress_bar()],
            enable_checkpointing=False,
        )

    classes = datamodule.class_names
    columns = prediction_columns(spec, classes)
    # The run's folds: a tabular model's preprocessing is fitted on its fold's training rows.
    datamodule.ensure_folds(layout.folds, n_folds, int(config.get("seed", 0)), write=False)
    tta = parse_tta(args.tta)
    if tta and not hasattr(model_cls, "tta_views"):
        raise CompeteError(f"--tta {args.tta}: {spec.slug} models take no test-time augmentation")
    if tta == "auto":
        tta = choose_tta(spec, layout, config, datamodule, available, load, make_trainer)
    datamodule.predict_split = "test"
    for fold, ckpt in available.items():
        model = load(ckpt)
        check_classes(model, classes, ckpt)
        if tta is not None:
            model.tta_override = tta
        datamodule.set_fold(fold)
        trainer = make_trainer()
        outputs = trainer.predict(model, datamodule=datamodule)
        index, preds = gather_predictions(outputs, prediction_key(spec))
        frame = pd.DataFrame(preds.reshape(len(index), -1), columns=columns)
        frame.insert(0, "id", datamodule.test_table["id"].to_numpy()[index])
        if len(frame) != len(datamodule.test_table):
            raise CompeteError(f"fold {fold}: predicted {len(frame)} of {len(datamodule.test_table)} test rows")
        if trainer.is_global_zero:
            write_csv(layout.test_predictions(fold), frame, float_format=PROBABILITY_FORMAT)

    if not is_global_zero():
        return None
    # Average what was written (the same rounding every reader of test/fold<k>.csv sees).
    written = [pd.read_csv(layout.test_predictions(k), dtype={"id": str}) for k in available]
    calibration = None
    if args.calibrate == "auto" and spec.metric.name == "log_loss":
        calibration = calibrate(spec, classes, layout, list(available))
        for frame in written:
            frame[columns] = calibration.apply(frame[columns].to_numpy(dtype=float))
    preds = average_predictions(written, columns, log_scale=spec.task == "regression")
    sample_path = Path(data_dir) / spec.sample_submission
    sample = read_submission_csv(sample_path)
    submission = to_submission(spec, preds, sample, classes)
    with atomic_path(layout.submission) as tmp:
        submission.to_csv(tmp, index=False, float_format=PROBABILITY_FORMAT)
        # Validate the bytes that will be uploaded, not the in-memory frame.
        validate_submission(spec, read_submission_csv(tmp), sample, str(layout.submission), classes)
    from competitions.tracking import log_quietly

    log_quietly(layout.root, {"submission/rows": len(submission)}, artifact=layout.submission)
    print(
        f"submission: {layout.submission} ({len(submission)} rows, folds {','.join(map(str, available))} averaged) "
        f"- valid against {sample_path}",
        file=sys.stderr,
    )
    return layout.submission


def check_classes(model, classes, ckpt: Path) -> None:
    """A classifier's checkpoint must know the classes the data has now, in the same order."""
    trained = list(getattr(model.hparams, "class_names", None) or [])
    if classes and trained and trained != list(classes):
        changed = next((a, b) for a, b in zip([*trained, None], [*classes, None], strict=False) if a != b)
        raise CompeteError(
            f"{ckpt}: trained on {len(trained)} classes, the data now has {len(classes)} "
            f"(first difference: {changed[0]!r} vs {changed[1]!r}); was train.csv changed?"
        )


def calibrate(spec: CompetitionSpec, classes, layout: RunLayout, folds: list[int]) -> Calibration:
    """Temperature and floor fitted on the pooled OOF predictions of ``folds``; written to calibration.json."""
    done = [k for k in folds if (layout.fold_dir(k) / "oof.csv").exists()]
    if not done:
        raise CompeteError(f"{layout.root}: no fold<k>/oof.csv to calibrate on; pass --calibrate none")
    y_true, probs = oof_truth_and_predictions(spec, classes, read_oof(layout, done))
    calibration = fit_calibration(probs, y_true)
    write_json(layout.root / "calibration.json", {"folds": done, **calibration.as_dict()})
    print(
        f"calibration on {calibration.oof_rows} OOF rows: temperature {calibration.temperature:.3f}, "
        f"floor {calibration.clip:g}; OOF log loss {calibration.log_loss_before:.4f} -> "
        f"{calibration.log_loss_after_temperature:.4f} (temperature) -> {calibration.log_loss_after:.4f} (floor)",
        file=sys.stderr,
    )
    return calibration


def parse_tta(text: str | None) -> list[str] | str | None:
    if text is None:
        return None
    text = text.strip().lower()
    if text in ("none", "off", ""):
        return []
    if text == "auto":
        return "auto"
    return [part.strip() for part in text.split(",") if part.strip()]


AUTO_TTA_CANDIDATES = ("hflip", "vflip", "shift", "five_crop", "scale")


def choose_tta(spec, layout, config, datamodule, checkpoints, load, make_trainer) -> list[str]:
    """Pick the TTA views on the pooled out-of-fold predictions; record the choice in tta.json."""
    import numpy as np
    import torch

    from lightning_modules.tta import expand_views, select_views

    view_names = [v.name for v in expand_views(["identity", *AUTO_TTA_CANDIDATES])]
    datamodule.predict_split = "val"
    rows, per_view = [], []
    for fold, ckpt in checkpoints.items():
        model = load(ckpt)
        model.tta_override = ["identity", *AUTO_TTA_CANDIDATES]
        model.return_view_probs = True
        datamodule.set_fold(fold)
        index, views = gather_predictions(make_trainer().predict(model, datamodule=datamodule), key="views")
        rows.append(index)
        per_view.append(views)
    index = np.concatenate(rows)
    y_true = datamodule.train_table["target"].to_numpy()[index]
    merge = (config.get("model") or {}).get("tta_merge", "mean")
    chosen, steps = select_views(
        torch.as_tensor(np.concatenate(per_view)),
        view_names,
        AUTO_TTA_CANDIDATES,
        score=lambda probs: spec.metric(y_true, probs.numpy()),
        better=spec.metric.better,
        merge=merge,
    )
    write_json(
        layout.root / "tta.json",
        {"metric": spec.metric.name, "merge": merge, "oof_rows": int(len(index)), "steps": steps, "chosen": chosen},
    )
    base, final = steps[0]["score"], next(s["score"] for s in reversed(steps) if s["kept"])
    print(
        f"tta auto: {'+'.join(chosen)} (pooled OOF {spec.metric.name} {base:.4f} without TTA -> {final:.4f}); "
        f"recorded in {layout.root / 'tta.json'}",
        file=sys.stderr,
    )
    return chosen
