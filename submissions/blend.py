"""`compete ensemble SLUG RUN_DIR...`: combine experiments of one competition, rows aligned by id.

Each member contributes its fold-averaged test predictions and its pooled out-of-fold predictions.
Weights: ``equal``; ``cv`` (in proportion to each member's pooled OOF score, or to its inverse for
metrics where lower wins); ``oof`` (non-negative weights summing to one that minimise the blend's
OOF loss: log loss of the blended probabilities for classification, RMSE of log price for house
prices). The blended OOF score is reported beside each member's; with ``oof`` it is measured on
the rows the weights were fitted on, so it is a little optimistic.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from competitions.artifacts import atomic_path, read_yaml, write_json, write_yaml
from competitions.cli import verb_parser
from competitions.errors import CompeteError, RunExistsError
from competitions.kfold import (
    PROBABILITY_FORMAT,
    RunLayout,
    oof_truth_and_predictions,
    prediction_columns,
    read_oof,
)
from competitions.metrics import multiclass_log_loss
from competitions.spec import CompetitionSpec
from submissions.calibrate import fit_calibration
from submissions.ensemble import average_predictions, to_submission
from submissions.validate import read_submission_csv, validate_submission


def member_predictions(spec: CompetitionSpec, run: Path, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pooled OOF frame, fold-averaged test predictions) of one run."""
    layout = RunLayout(run)
    if not layout.config.exists():
        raise CompeteError(f"{run}: not a run directory (no config.yaml)")
    folds = layout.done_folds()
    tests = sorted(layout.root.glob("test/fold*.csv"))
    if not folds:
        raise CompeteError(f"{run}: no finished fold (fold<k>/oof.csv); run compete fit first")
    if not tests:
        raise CompeteError(f"{run}: no test/fold<k>.csv; run `compete predict {spec.slug} --run {run}` first")
    frames = [pd.read_csv(path, dtype={"id": str}) for path in tests]
    test = average_predictions(frames, columns, log_scale=spec.task == "regression")
    return read_oof(layout, folds), test


def blend(values: list[np.ndarray], weights: np.ndarray, log_scale: bool) -> np.ndarray:
    stacked = np.stack([np.log(v) if log_scale else v for v in values])
    mixed = np.tensordot(weights, stacked, axes=1)
    return np.exp(mixed) if log_scale else mixed


def fit_weights(spec: CompetitionSpec, y_true: np.ndarray, oof: list[np.ndarray]) -> np.ndarray:
    """Non-negative weights summing to one that minimise the blended OOF loss."""
    regression = spec.task == "regression"

    def loss(weights: np.ndarray) -> float:
        mixed = blend(oof, np.clip(weights, 0, None), regression)
        if regression:
            return float(np.sqrt(np.mean((np.log(mixed) - np.log(y_true)) ** 2)))
        return multiclass_log_loss(y_true, np.clip(mixed, 1e-15, None))

    n = len(oof)
    result = minimize(
        loss,
        np.full(n, 1 / n),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
    )
    weights = np.clip(result.x, 0, None)
    return weights / weights.sum()


def run_ensemble(spec: CompetitionSpec, argv: list[str]) -> Path:
    parser = verb_parser(
        "ensemble", spec, "Blend several experiments of one competition into one validated submission."
    )
    parser.add_argument("runs", type=str, nargs="+", help="run directories (after compete predict)")
    parser.add_argument("--weights", type=str, default="oof", choices=["equal", "cv", "oof"])
    parser.add_argument("--name", type=str, default="ensemble", help="output: RUNS_DIR/SLUG/NAME/")
    parser.add_argument("--data-dir", type=str | None, default=None, help="default: the first run's")
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    if len(runs) < 2:
        raise CompeteError("compete ensemble needs at least two run directories")
    out = runs[0].resolve().parent / args.name
    if out.exists():
        raise RunExistsError(f"{out} already exists; pass --name NEW_NAME")
    config = read_yaml(RunLayout(runs[0]).config) if RunLayout(runs[0]).config.exists() else {}
    data_dir = Path(args.data_dir or config.get("data_dir") or f"data/{spec.slug}")
    datamodule = spec.datamodule_class()(data_dir=str(data_dir))
    classes = datamodule.class_names
    columns = prediction_columns(spec, classes)

    members = [member_predictions(spec, run, columns) for run in runs]
    ids = members[0][0]["id"]
    for run, (oof, test) in zip(runs[1:], members[1:], strict=True):
        if set(oof["id"]) != set(ids) or set(test["id"]) != set(members[0][1]["id"]):
            raise CompeteError(f"{run}: predicts other rows than {runs[0]}; blend runs of the same data and folds")
        if (run / "folds.csv").read_bytes() != (runs[0] / "folds.csv").read_bytes():
            print(
                f"warning: {run} used other folds than {runs[0]}; the blended OOF score mixes splits", file=sys.stderr
            )
    aligned = [oof.set_index("id").loc[ids].copy().reset_index() for oof, _ in members]
    y_true = oof_truth_and_predictions(spec, classes, aligned[0])[0]
    oof_values = [oof_truth_and_predictions(spec, classes, frame)[1] for frame in aligned]
    scores = [spec.metric(y_true, values) for values in oof_values]
    if args.weights == "equal":
        weights = np.full(len(runs), 1 / len(runs))
    elif args.weights == "cv":
        raw = np.array(scores) if spec.metric.direction == "max" else 1 / np.array(scores)
        weights = raw / raw.sum()
    else:
        weights = fit_weights(spec, y_true, oof_values)
    regression = spec.task == "regression"
    blended_oof = blend(oof_values, weights, regression)
    blended_score = spec.metric(y_true, blended_oof)

    test_ids = members[0][1]["id"]
    tests = [test.set_index("id").loc[test_ids, columns].to_numpy(dtype=float) for _, test in members]
    blended_test = blend(tests, weights, regression)
    calibration = None
    if spec.metric.name == "log_loss":
        calibration = fit_calibration(blended_oof, y_true)
        blended_test = calibration.apply(blended_test)
    preds = pd.DataFrame(blended_test.reshape(len(test_ids), -1), columns=columns)
    preds.insert(0, "id", test_ids.to_numpy())

    sample_path = data_dir / spec.sample_submission
    sample = read_submission_csv(sample_path)
    submission = to_submission(spec, preds, sample, classes)
    out.mkdir(parents=True)
    with atomic_path(out / "submission.csv") as tmp:
        submission.to_csv(tmp, index=False, float_format=PROBABILITY_FORMAT)
        validate_submission(spec, read_submission_csv(tmp), sample, str(out / "submission.csv"), classes)
    summary = {
        "metric": spec.metric.name,
        "weights_by": args.weights,
        "members": [
            {"run": str(run), "oof": score, "weight": float(w)}
            for run, score, w in zip(runs, scores, weights, strict=True)
        ],
        "oof": blended_score,
        "oof_rows": int(len(ids)),
        "calibration": calibration.as_dict() if calibration else None,
    }
    write_json(out / "ensemble.json", summary)
    # So that `compete submit` finds the data and shows the blend's OOF score like a run's CV.
    write_yaml(out / "config.yaml", {"data_dir": str(data_dir), "ensemble": [str(r) for r in runs]})
    write_json(out / "cv.json", {"metric": spec.metric.name, "mean": blended_score, "std": 0.0, "oof": blended_score})
    print_summary(spec, summary, out)
    return out / "submission.csv"


def print_summary(spec: CompetitionSpec, summary: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{spec.slug}: ensemble ({summary['weights_by']} weights), pooled OOF {spec.metric.name}")
    table.add_column("member")
    table.add_column(spec.metric.name, justify="right")
    table.add_column("weight", justify="right")
    for member in summary["members"]:
        table.add_row(member["run"], f"{member['oof']:.4f}", f"{member['weight']:.3f}")
    table.add_row("blend", f"{summary['oof']:.4f}", "1.000")
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    console.print(table)
    if summary["calibration"]:
        c = summary["calibration"]
        console.print(
            f"calibrated: temperature {c['temperature']:.3f}, floor {c['clip']:g}, OOF {c['log_loss_after']:.4f}"
        )
    console.print(f"submission: {out / 'submission.csv'} (validated)  details: {out / 'ensemble.json'}")
