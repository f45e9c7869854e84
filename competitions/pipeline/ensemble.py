"""Ensembling: several experiments of one competition blended into one validated submission.

Each member contributes its fold-averaged test predictions and its pooled out-of-fold predictions,
rows aligned by id. The blended OOF score is reported beside each member's. With ``oof`` weights,
fitted on the same rows they blend, that score is a little optimistic; so the blend is also scored
nested: each fold's rows are blended with weights fitted on the other folds' rows only, and that
honest score is the one cv.json (and `compete runs`) shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from competitions.core.artifacts import read_yaml, write_json, write_yaml
from competitions.core.console import warn
from competitions.core.errors import CompeteError, RunExistsError
from competitions.core.layout import DEFAULT_DATA_DIR, RunLayout
from competitions.core.metrics import Metric
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import class_names
from competitions.pipeline.oof import oof_truth_and_predictions, read_oof, write_cv
from competitions.pipeline.predict import predicted_test_files
from competitions.pipeline.records import Submission
from competitions.pipeline.run_record import run_competition
from submissions.averaging import average_predictions
from submissions.calibrate import fit_calibration
from submissions.level2 import LEVEL_TWO, fit_blender
from submissions.submission_file import write_submission
from submissions.validate import read_submission_csv


def member_predictions(spec: CompetitionSpec, run: Path, classes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pooled OOF frame, fold-averaged test predictions) of one run."""
    columns = spec.prediction_columns(classes)
    layout = RunLayout(run)
    if not layout.config.exists():
        raise CompeteError(f"{run}: not a run directory (no config.yaml)")
    folds = layout.done_folds()
    if not folds:
        raise CompeteError(f"{run}: no finished fold (fold<k>/oof.csv); run compete fit first")
    tests = predicted_test_files(layout)  # exactly the folds that made the run's submission, checked
    if tests is None:
        tests = layout.written_test_predictions()
        if tests:
            warn(f"{layout.test_manifest}: not found (predicted by an older compete); using every test/fold<k>.csv")
    if not tests or not all(path.exists() for path in tests):
        raise CompeteError(f"{run}: no test/fold<k>.csv; run `compete predict {spec.slug} --run {run}` first")
    frames = [pd.read_csv(path, dtype={"id": str}) for path in tests]
    return read_oof(spec, classes, layout, folds), average_predictions(frames, columns, log_scale=spec.log_scale)


def check_runs(spec: CompetitionSpec, runs: list[Path]) -> None:
    """Distinct runs of this competition."""
    seen: dict[Path, Path] = {}
    for run in runs:
        resolved = run.resolve()
        if resolved in seen:
            raise CompeteError(f"{run}: named twice (as {seen[resolved]} too); an ensemble blends different runs")
        seen[resolved] = run
        made_for = run_competition(RunLayout(run))
        if made_for not in (None, spec.slug):
            raise CompeteError(f"{run}: a run of {made_for!r}, not of {spec.slug}; blend runs of one competition")


def check_members(runs: list[Path], members: list[tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    """Every member must predict the same rows; other folds are allowed, with a warning."""
    ids, test_ids = set(members[0][0]["id"]), set(members[0][1]["id"])
    for run, (oof, test) in zip(runs[1:], members[1:], strict=True):
        if set(oof["id"]) != ids or set(test["id"]) != test_ids:
            raise CompeteError(f"{run}: predicts other rows than {runs[0]}; blend runs of the same data and folds")
        if not same_outer_folds(RunLayout(run).folds, RunLayout(runs[0]).folds):
            warn(f"{run} used other folds than {runs[0]}; the blended OOF score mixes splits")


def same_outer_folds(one: Path, other: Path) -> bool:
    """Whether two runs' folds.csv split the rows alike (the ``fold`` column; repeats may differ)."""
    first, second = (pd.read_csv(path, dtype={"id": str}, usecols=["id", "fold"]).set_index("id")["fold"]
                     for path in (one, other))  # fmt: skip
    return first.sort_index().equals(second.sort_index())


def nested_scores(spec: CompetitionSpec, weights: str, y_true: np.ndarray, oof_values: list[np.ndarray],
                  folds: np.ndarray) -> dict:  # fmt: skip
    """The blend scored honestly: fold k's rows blended with weights fitted on the other folds' rows."""
    blended = np.empty_like(np.asarray(oof_values[0], dtype=float))
    per_fold = {}
    for fold in np.unique(folds):
        held, rest = folds == fold, folds != fold
        blender = fit_blender(weights, spec.metric, y_true[rest], [v[rest] for v in oof_values], spec.log_scale)
        blended[held] = blender.apply([v[held] for v in oof_values])
        per_fold[str(int(fold))] = float(spec.metric(y_true[held], blended[held]))
    return {"oof": float(spec.metric(y_true, blended)), "folds": per_fold}


@dataclass
class Blend:
    """The members blended: their OOF scores and weights, the blended OOF and test predictions."""

    ids: pd.Series
    test_ids: pd.Series
    y_true: np.ndarray
    scores: list[float]
    weights: np.ndarray
    oof: np.ndarray
    test: np.ndarray
    nested: dict
    calibration: object | None
    weighting: str = ""  # the weighting used (``auto``: the one the nested OOF score chose)
    candidates: dict | None = None  # ``auto``: each weighting's nested OOF score
    error: float | None = None  # ``auto``: the standard error its one-standard-error rule allowed


def blend_members(spec: CompetitionSpec, classes, members: list[tuple[pd.DataFrame, pd.DataFrame]], weights: str) -> Blend:
    """Weights fitted (or set) on the members' pooled OOF predictions, aligned by id; the nested score; the
    test blend (calibrated for log loss)."""
    columns = spec.prediction_columns(classes)
    ids = members[0][0]["id"]
    aligned = [oof.set_index("id").loc[ids].copy().reset_index() for oof, _ in members]
    y_true = oof_truth_and_predictions(spec, classes, aligned[0])[0]
    oof_values = [oof_truth_and_predictions(spec, classes, frame)[1] for frame in aligned]
    folds = aligned[0]["fold"].to_numpy()
    weighting, candidates, error = choose_weighting(spec, weights, y_true, oof_values, folds)
    blender = fit_blender(weighting, spec.metric, y_true, oof_values, spec.log_scale)
    w = blender.weights
    blended_oof = blender.apply(oof_values)
    test_ids = members[0][1]["id"]
    tests = [test.set_index("id").loc[test_ids, columns].to_numpy(dtype=float) for _, test in members]
    blended_test = blender.apply(tests)
    calibration = fit_calibration(blended_oof, y_true) if spec.metric.name == "log_loss" else None
    if calibration is not None:
        blended_test = calibration.apply(blended_test)
    nested = candidates[weighting] if candidates else nested_scores(spec, weighting, y_true, oof_values, folds)
    scores = {k: v["oof"] for k, v in candidates.items()} if candidates else None
    return Blend(ids, test_ids, y_true, [spec.metric(y_true, v) for v in oof_values], w, blended_oof, blended_test,
                 nested, calibration, weighting, scores, error)  # fmt: skip


AUTO_CANDIDATES = ("caruana", "oof", "linear")  # simplest first: sparse counts, dense weights, a second-level model


def choose_weighting(spec: CompetitionSpec, weights: str, y_true: np.ndarray, oof_values: list[np.ndarray],
                     folds: np.ndarray) -> tuple[str, dict | None, float | None]:  # fmt: skip
    """``weights``, or for ``auto`` the candidate the one-standard-error rule keeps, every candidate's
    nested scores and the error the rule allowed."""
    if weights != "auto":
        return weights, None, None
    candidates = [how for how in AUTO_CANDIDATES if not (spec.multi_label and how in LEVEL_TWO)]
    nested = {how: nested_scores(spec, how, y_true, oof_values, folds) for how in candidates}
    chosen, error = simplest_within_one_error(spec.metric, nested)
    return chosen, nested, error


def simplest_within_one_error(metric: Metric, nested: dict) -> tuple[str, float]:
    """The first (simplest) blender of ``nested`` (in AUTO_CANDIDATES' order) whose nested OOF score is
    within one standard error of the best one's, and that error: the spread of the best's per-fold scores
    over the square root of the folds (Breiman's one-standard-error rule). On a few hundred rows the
    candidates' scores differ by less than their noise, and the most flexible blender wins such draws
    more often than its held-out score deserves (the Titanic-shaped table: benchmarks/README.md); one
    that is better by more than the noise is still chosen."""
    best_score = metric.best(scores["oof"] for scores in nested.values())
    best = next(how for how, scores in nested.items() if scores["oof"] == best_score)
    fold_scores = np.array(list(nested[best]["folds"].values()), dtype=float)
    error = float(fold_scores.std(ddof=1) / np.sqrt(len(fold_scores))) if len(fold_scores) > 1 else 0.0
    error = error if np.isfinite(error) else 0.0  # a fold the metric could not score: no spread to allow
    close = (how for how, scores in nested.items() if abs(scores["oof"] - best_score) <= error)
    return next(close, best), error


def ensemble_runs(
    spec: CompetitionSpec,
    runs: list[str | Path],
    weights: str = "oof",
    name: str = "ensemble",
    data_dir: str | Path | None = None,
    replace: bool = False,
) -> Submission:
    """Blend ``runs`` (after predict) into RUNS_DIR/SLUG/NAME/submission.csv; ``details`` holds the summary.
    ``replace``: an existing NAME written by an earlier blend of these runs is rewritten (a stack resumed)."""
    runs = [Path(r) for r in runs]
    if len(runs) < 2:
        raise CompeteError("compete ensemble needs at least two run directories")
    check_runs(spec, runs)
    out = RunLayout(runs[0].resolve().parent / name)
    if out.root.exists() and not (replace and out.ensemble.exists()):
        raise RunExistsError(f"{out.root} already exists; choose another `name`")
    first = RunLayout(runs[0])
    config = read_yaml(first.config) if first.config.exists() else {}
    data_dir = Path(data_dir or config.get("data_dir") or f"{DEFAULT_DATA_DIR}/{spec.slug}")
    classes = class_names(spec, data_dir)
    members = [member_predictions(spec, run, classes) for run in runs]
    check_members(runs, members)
    blend = blend_members(spec, classes, members, weights)
    preds = pd.DataFrame(blend.test.reshape(len(blend.test_ids), -1), columns=spec.prediction_columns(classes))
    preds.insert(0, "id", blend.test_ids.to_numpy())
    sample_path = data_dir / spec.sample_submission
    out.root.mkdir(parents=True, exist_ok=True)
    frame = write_submission(spec, preds, read_submission_csv(sample_path), out.submission, classes)
    summary = write_blend_records(spec, out, runs, blend, weights, data_dir)
    return Submission(spec.slug, out.submission, frame, sample_path, summary)


def write_blend_records(spec: CompetitionSpec, out: RunLayout, runs: list[Path], blend: Blend, weights: str,
                        data_dir: Path) -> dict:  # fmt: skip
    """ensemble.json (members, weights, in-sample and nested scores); config.yaml and cv.json, so that
    `compete submit` finds the data and `compete runs` lists the blend like a run, by its honest (nested)
    score (the in-sample one stays in ensemble.json)."""
    summary = {
        "metric": spec.metric.name,
        "weights_by": weights,
        "weighting": blend.weighting,  # what ``auto`` chose
        "weighting_nested_oof": blend.candidates,
        "weighting_error": blend.error,  # one standard error: the simplest candidate within it of the best is kept
        "members": [{"run": str(run), "oof": score, "weight": float(weight)}
                    for run, score, weight in zip(runs, blend.scores, blend.weights, strict=True)],  # fmt: skip
        "oof": spec.metric(blend.y_true, blend.oof),
        "oof_nested": blend.nested["oof"],
        "oof_nested_folds": blend.nested["folds"],
        "oof_rows": int(len(blend.ids)),
        "calibration": blend.calibration.as_dict() if blend.calibration else None,
    }
    write_json(out.ensemble, summary)
    write_yaml(out.config, {"data_dir": str(data_dir), "family": "blend", "ensemble": [str(r) for r in runs],
                            "weights": weights, "meta": {"competition": spec.slug}})  # fmt: skip
    write_cv(spec, out, blend.nested["folds"], blend.nested["oof"], int(len(blend.ids)), len(blend.nested["folds"]),
             complete=True, oof_in_sample=summary["oof"])  # fmt: skip
    return summary
