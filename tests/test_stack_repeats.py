"""Repeated k-fold (shared folds.csv columns, OOF averaged over repeats), the second-level blend model,
and fitting within a budget: real LightGBM, CatBoost and scikit-learn fits on the tiny Ames table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from competitions.catalog import get_competition
from competitions.commands.cli import main
from tests.helpers import error_line

AMES = "house-prices-advanced-regression-techniques"
QUICK_LGB = ["--model.n_estimators=40", "--model.early_stopping_rounds=10"]


def fit(data: Path, *extra: str) -> int:
    return main(["fit", AMES, "--data-dir", str(data), "--n-folds=2", *extra])


def test_repeats_share_their_folds_average_oof_and_predict_with_every_model(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    shared = workdir / "runs" / AMES / "folds.csv"
    assert fit(data, "--config", "ridge", "--experiment", "once") == 0
    first = pd.read_csv(shared, dtype={"id": str})
    assert "fold_r1" not in first.columns
    assert fit(data, "--config", "lightgbm", "--experiment", "lgb", "--n-repeats=2", *QUICK_LGB) == 0
    folds = pd.read_csv(shared, dtype={"id": str})
    assert folds["fold"].equals(first["fold"]) and set(folds["fold_r1"]) == {0, 1}  # the split of repeat 0 kept
    assert not folds["fold_r1"].equals(folds["fold"]) and not folds["fold_r1"].equals(1 - folds["fold"])
    run = workdir / "runs" / AMES / "lgb"
    assert [p.name for p in sorted(run.glob("fold?"))] == ["fold0", "fold1", "fold2", "fold3"]
    cv = json.loads((run / "cv.json").read_text())
    assert cv["n_folds"] == 4 and cv["n_repeats"] == 2 and cv["oof_rows"] == len(folds)
    # The pooled OOF score is that of each row's two out-of-fold predictions averaged on the log scale.
    oof = pd.concat([pd.read_csv(run / f"fold{k}" / "oof.csv", dtype={"id": str}) for k in range(4)])
    assert oof["id"].value_counts().eq(2).all()
    mean = np.exp(np.log(oof["prediction"]).groupby(oof["id"]).mean())
    truth = oof.groupby("id")["SalePrice"].first()
    assert cv["oof"] == pytest.approx(float(np.sqrt(np.mean((np.log(mean) - np.log(truth)) ** 2))))
    # Another experiment with repeats finds them in folds.csv: the same splits, the file unchanged.
    before = shared.read_bytes()
    assert fit(data, "--config", "ridge", "--experiment", "ridge", "--n-repeats=2") == 0
    assert shared.read_bytes() == before
    capsys.readouterr()
    assert main(["predict", AMES, "--run", str(run)]) == 0
    assert "folds 0,1,2,3 averaged" in capsys.readouterr().err
    assert main(["predict", AMES, "--run", str(workdir / "runs" / AMES / "ridge")]) == 0
    assert main(["predict", AMES, "--run", str(workdir / "runs" / AMES / "once")]) == 0
    # Blended with a run of one repeat: rows aligned by id, scored nested on the shared outer folds.
    assert main(["ensemble", AMES, str(run), str(workdir / "runs" / AMES / "once"), "--weights", "auto"]) == 0
    blend = json.loads((workdir / "runs" / AMES / "ensemble" / "ensemble.json").read_text())
    assert set(blend["oof_nested_folds"]) == {"0", "1"} and blend["oof_rows"] == len(folds)
    assert set(blend["weighting_nested_oof"]) == {"oof", "caruana", "linear"}
    nested, error = blend["weighting_nested_oof"], blend["weighting_error"]
    assert error > 0 and blend["weighting"] == next(h for h in nested if nested[h] <= min(nested.values()) + error)
    # Resuming with other repeats would mix splits: refused.
    capsys.readouterr()
    assert fit(data, "--config", "ridge", "--experiment", "ridge", "--n-repeats=3", "--resume") == 1
    assert "n_repeats 2 -> 3" in error_line(capsys)
    assert fit(data, "--config", "ridge", "--experiment", "none", "--n-repeats=0") == 2
    assert "--n-repeats 0: repeats of the k-fold are 1 or more" in error_line(capsys)


def test_repeats_average_class_probabilities_and_choose_the_label_again():
    from competitions.pipeline.oof import average_repeats

    spec = get_competition("cifar-10")
    classes = list(spec.classes)
    rows = []
    for fold, probs in ((0, {"cat": 0.6, "dog": 0.4}), (2, {"cat": 0.0, "dog": 1.0})):
        values = [probs.get(c, 0.0) for c in classes]
        rows.append({"id": "7", "fold": fold, "label": "dog", "prediction": max(probs, key=probs.get),
                     **dict(zip(classes, values, strict=True))})  # fmt: skip
    pooled = pd.DataFrame(rows)
    averaged = average_repeats(spec, classes, pooled)
    assert len(averaged) == 1 and averaged["fold"].iloc[0] == 0
    assert averaged["cat"].iloc[0] == pytest.approx(0.3) and averaged["prediction"].iloc[0] == "dog"


def test_the_linear_level_two_model_is_chosen_when_its_nested_score_wins():
    from competitions.pipeline.ensemble import choose_weighting
    from submissions.level2 import fit_blender

    spec = get_competition(AMES)
    rng = np.random.default_rng(0)
    log_truth = rng.normal(12, 0.4, 400)
    # Two members whose errors cancel with weights of opposite sign: no mean of them can do that.
    shared = rng.normal(0, 0.3, 400)
    first, second = np.exp(log_truth + shared), np.exp(log_truth + 2 * shared + rng.normal(0, 0.02, 400))
    folds = np.arange(400) % 4
    chosen, nested, error = choose_weighting(spec, "auto", np.exp(log_truth), [first, second], folds)
    assert chosen == "linear" and nested["linear"]["oof"] < 0.5 * nested["oof"]["oof"]
    assert nested["oof"]["oof"] - nested["linear"]["oof"] > error  # better by more than the rule's error
    blender = fit_blender("linear", spec.metric, np.exp(log_truth), [first, second], spec.log_scale)
    assert blender.weights[0] > 1 and blender.weights[1] < 0
    # Classes: a logistic model on the members' log-probabilities; a class no training row held keeps a floor.
    accuracy = get_competition("cifar-10").metric
    labels = rng.integers(0, 3, 300)
    probs = np.full((300, 4), 0.1)
    probs[np.arange(300), labels] = 0.7
    blender = fit_blender("linear", accuracy, labels, [probs, probs[:, ::-1].copy()], False)
    out = blender.apply([probs, probs[:, ::-1].copy()])
    assert out.shape == (300, 4) and np.allclose(out.sum(axis=1), 1) and (out[:, 3] < 0.01).all()
    assert (out.argmax(axis=1) == labels).mean() == 1.0


def fit_budgeted_stack(data: Path, workdir: Path, families: dict[str, dict | None], budget: float) -> float:
    """`compete fit --config WORKDIR/stack.yaml --budget BUDGET` of ``families`` (each with its model settings,
    or None for its preset's), weights oof; the seconds it took."""
    configs = {}
    for family, model in families.items():
        if model is not None:
            configs[family] = str(workdir / f"{family}.yaml")
            Path(configs[family]).write_text(yaml.safe_dump({"model": model}))
    stack = {"families": list(families), "weights": "oof", "configs": configs}
    (workdir / "stack.yaml").write_text(yaml.safe_dump({"stack": stack}))
    started = time.monotonic()
    assert fit(data, "--config", str(workdir / "stack.yaml"), "--budget", f"{budget:.0f}s") == 0
    return time.monotonic() - started


def test_a_budgeted_stack_stops_its_trees_and_ends_within_the_budget(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    endless = {"lightgbm": {"n_estimators": 1_000_000, "early_stopping_rounds": 0, "learning_rate": 0.0005},
               "catboost": {"iterations": 1_000_000, "early_stopping_rounds": 0}, "ridge": None}  # fmt: skip
    budget = 18.0
    elapsed = fit_budgeted_stack(data, workdir, endless, budget)
    err = capsys.readouterr().err
    assert "fitting ridge, lightgbm, catboost in that order" in err
    runs = workdir / "runs" / AMES
    for family in ("lightgbm", "catboost"):  # a million rounds each: only the budget ended them
        metrics = json.loads((runs / f"stack-{family}" / "fold1" / "metrics.json").read_text())
        assert 0 < metrics["epochs"] < 1_000_000
        assert yaml.safe_load((runs / f"stack-{family}" / "config.yaml").read_text())["budget"].endswith("s")
    assert err.count("stopped at the budget's share of this fold") == 4
    assert (runs / "stack" / "submission.csv").exists()
    assert elapsed < budget * 1.15, elapsed  # the contract, with room for a loaded test machine
    # A budget that leaves no time for one family is refused in one line, before anything is fitted.
    assert fit(data, "--config", str(workdir / "stack.yaml"), "--budget", "3s", "--experiment", "tight") == 2
    assert "a stack needs 5s for one family" in error_line(capsys)
    assert not (runs / "tight-ridge").exists()


def test_time_a_budgeted_stack_has_left_goes_to_more_repeats(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    budget = 20.0
    elapsed = fit_budgeted_stack(data, workdir, {"lightgbm": {"n_estimators": 30, "early_stopping_rounds": 10},
                                                 "ridge": None}, budget)  # fmt: skip
    err = capsys.readouterr().err
    runs = workdir / "runs" / AMES
    for family in ("ridge", "lightgbm"):
        cv = json.loads((runs / f"stack-{family}" / "cv.json").read_text())
        assert cv["n_repeats"] >= 2 and cv["n_folds"] == 2 * cv["n_repeats"] and cv["complete"], cv
        assert f"{family} with 2 repeats of its k-fold" in err
        manifest = json.loads((runs / f"stack-{family}" / "test" / "manifest.json").read_text())
        assert len(manifest["folds"]) == cv["n_folds"]  # the test predictions of every repeat's models
    shared, own = pd.read_csv(runs / "folds.csv"), pd.read_csv(runs / "stack-ridge" / "folds.csv")
    assert shared["fold_r1"].equals(own["fold_r1"])  # the competition's folds.csv gained the repeat too
    blend = json.loads((runs / "stack" / "ensemble.json").read_text())
    assert blend["oof_rows"] == len(pd.read_csv(data / "train.csv"))
    assert elapsed < budget * 1.15, elapsed


def test_a_resume_with_more_repeats_that_fails_leaves_the_run_as_it_was(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    quick = ["--config", "debug", "--experiment", "mlp", "--trainer.max_epochs=2"]
    assert fit(data, *quick) == 0
    run = workdir / "runs" / AMES / "mlp"
    # More repeats with a budget no plan fits: refused before a fold trains; the run keeps its one repeat.
    assert fit(data, *quick, "--resume", "--force", "--n-repeats=2", "--budget", "0.05s") == 2
    assert "the smallest plan, 1 epoch per fold" in error_line(capsys)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["n_repeats"] == 1 and config["history"][-1]["status"] == "failed"
    assert main(["predict", AMES, "--run", str(run)]) == 0  # its two folds, as before
    assert "folds 0,1 averaged" in capsys.readouterr().err
    # The same resume with time for it: the run now has both repeats, and predict uses all four models.
    assert fit(data, *quick, "--resume", "--force", "--n-repeats=2") == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["n_repeats"] == 2
    assert main(["predict", AMES, "--run", str(run)]) == 0
    assert "folds 0,1,2,3 averaged" in capsys.readouterr().err


def test_auto_keeps_the_simplest_blender_within_one_standard_error_of_the_best():
    from competitions.pipeline.ensemble import AUTO_CANDIDATES, simplest_within_one_error

    def nested(**scores):  # the pooled nested score and four fold scores around it
        return {how: {"oof": oof, "folds": dict(enumerate(folds))} for how, (oof, folds) in scores.items()}

    accuracy, rmse = get_competition("cifar-10").metric, get_competition(AMES).metric
    assert AUTO_CANDIDATES[0] == "caruana" and AUTO_CANDIDATES[-1] == "linear"  # simplest first
    noisy = [0.70, 0.76, 0.72, 0.78]  # standard error 0.0183
    close = nested(caruana=(0.735, noisy), oof=(0.738, noisy), linear=(0.745, noisy))
    assert simplest_within_one_error(accuracy, close) == ("caruana", pytest.approx(0.0183, abs=1e-4))
    steady = [0.744, 0.746, 0.745, 0.745]  # the same best score on folds that agree: error 0.0004
    assert simplest_within_one_error(accuracy, nested(caruana=(0.735, steady), oof=(0.7448, steady),
                                                      linear=(0.745, steady)))[0] == "oof"  # fmt: skip
    # Lower is better: the level-two model far ahead of both means is kept.
    far = nested(caruana=(0.120, [0.1] * 4), oof=(0.118, [0.1] * 4), linear=(0.090, [0.08, 0.09, 0.10, 0.09]))
    assert simplest_within_one_error(rmse, far)[0] == "linear"
    # One fold: no spread to measure, the best is kept.
    assert simplest_within_one_error(rmse, nested(caruana=(0.12, [0.12]), linear=(0.11, [0.11]))) == ("linear", 0.0)
    # A fold the metric could not score (nan): no spread is allowed, the best is kept.
    assert simplest_within_one_error(rmse, nested(caruana=(0.12, [0.1, np.nan]), linear=(0.11, [0.1, np.nan]))) == (
        "linear", 0.0)  # fmt: skip
