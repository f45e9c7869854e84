"""`compete init` on tables the catalog does not know (Titanic, Playground-Series shapes), in their Kaggle
layouts; then every model family, the stack, tune, predict and validate on them.

Real LightGBM boosters, real scikit-learn models, the real MLP LightningModule; tiny data, few rounds.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import yaml

from competitions.commands.cli import main
from tests.helpers import error_line

QUICK_LGB = ["--model.n_estimators=60", "--model.early_stopping_rounds=20", "--n-folds=2"]


def titanic_logit(sex: np.ndarray, pclass: np.ndarray, age: np.ndarray) -> np.ndarray:
    """The log-odds of survival the Titanic-shaped table draws from (a missing age counts as 30)."""
    return 2.5 * (sex == "female") - 0.9 * (pclass - 2) - 0.02 * (np.nan_to_num(age, nan=30.0) - 30) - 0.8


def playground_signal(x: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The Playground-style table's signal: its target is signal + N(0, 0.7) > 0.3 (binary)."""
    return 1.5 * x[:, 0] - x[:, 1] + 0.8 * np.sin(2 * x[:, 2]) + (colour == "red") * 1.2


def make_titanic(root: Path, n_train: int = 240, n_test: int = 80, seed: int = 0) -> Path:
    """titanic: train.csv (PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked),
    test.csv (the same without Survived), gender_submission.csv (PassengerId,Survived)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    sex = rng.choice(["male", "female"], n, p=[0.64, 0.36])
    pclass = rng.choice([1, 2, 3], n, p=[0.24, 0.21, 0.55])
    age = np.round(rng.normal(30, 14, n).clip(0.5, 80), 1).astype(object)
    age[rng.random(n) < 0.2] = ""  # Age is missing for a fifth of the passengers
    fare = np.round(rng.lognormal(np.array([4.2, 3.0, 2.3])[pclass - 1], 0.5), 4)
    cabin = np.where((pclass == 1) & (rng.random(n) < 0.8), [f"C{i}" for i in rng.integers(1, 120, n)], "")
    embarked = rng.choice(["S", "C", "Q", ""], n, p=[0.72, 0.19, 0.085, 0.005])
    logit = titanic_logit(sex, pclass, np.where(age == "", np.nan, age).astype(float))
    survived = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({
        "PassengerId": np.arange(1, n + 1), "Survived": survived, "Pclass": pclass,
        "Name": [f"Passenger, Mr. Number {i}" for i in range(n)], "Sex": sex, "Age": age,
        "SibSp": rng.poisson(0.5, n), "Parch": rng.poisson(0.4, n),
        "Ticket": [f"A/5 {t}" for t in rng.integers(1000, 1100, n)], "Fare": fare, "Cabin": cabin, "Embarked": embarked,
    })  # fmt: skip
    data = root / "titanic"
    data.mkdir(parents=True)
    frame.iloc[:n_train].to_csv(data / "train.csv", index=False)
    frame.iloc[n_train:].drop(columns="Survived").to_csv(data / "test.csv", index=False)
    gender = frame.iloc[n_train:][["PassengerId"]].assign(Survived=(sex[n_train:] == "female").astype(int))
    gender.to_csv(data / "gender_submission.csv", index=False)
    return data


def make_playground(root: Path, slug: str, binary: bool, n_train: int = 300, n_test: int = 90) -> Path:
    """A Playground-Series table: train.csv (id, features, target), test.csv, sample_submission.csv
    (id,target with a constant: 0.5 for a binary probability, the target's mean for a regression)."""
    rng = np.random.default_rng(1)
    n = n_train + n_test
    x = rng.normal(size=(n, 4))
    colour = rng.choice(["red", "green", "blue"], n)
    signal = playground_signal(x, colour)
    frame = pd.DataFrame({"id": np.arange(10000, 10000 + n), **{f"f{i}": np.round(x[:, i], 5) for i in range(4)},
                          "colour": colour})  # fmt: skip
    frame["target"] = ((signal + rng.normal(0, 0.7, n)) > 0.3).astype(int) if binary else np.round(signal + rng.normal(0, 0.3, n), 4)
    data = root / slug
    data.mkdir(parents=True)
    frame.iloc[:n_train].to_csv(data / "train.csv", index=False)
    frame.iloc[n_train:].drop(columns="target").to_csv(data / "test.csv", index=False)
    constant = 0.5 if binary else round(float(frame["target"].iloc[:n_train].mean()), 3)
    pd.DataFrame({"id": frame["id"].iloc[n_train:], "target": constant}).to_csv(data / "sample_submission.csv", index=False)
    return data


def test_titanic_init_then_families_stack_predict_validate(tmp_path, workdir, capsys):
    data = make_titanic(tmp_path)
    assert main(["init", "titanic", "--data-dir", str(data)]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / "titanic.yaml").read_text())
    assert spec["shape"] == "tabular" and spec["task"] == "classification" and spec["submission"] == "label"
    assert spec["id_column"] == "PassengerId" and spec["target_column"] == "Survived" and spec["metric"] == "FILL_ME"
    assert spec["sample_submission"] == "gender_submission.csv" and spec["test_csv"] == "test.csv"
    assert main(["fit", "titanic", "--data-dir", str(data), "--config", "debug"]) == 1
    assert "metric" in error_line(capsys)
    assert main(["init", "titanic", "--data-dir", str(data), "--metric", "accuracy", "--force"]) == 0
    capsys.readouterr()
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "titanic" in listed and "stack" in listed  # the tabular shape's presets
    # The MLP LightningModule (debug), one family at a time: predict, validate.
    assert main(["fit", "titanic", "--data-dir", str(data), "--config", "debug"]) == 0
    run = workdir / "runs" / "titanic" / "baseline"
    oof = pd.concat(pd.read_csv(p) for p in run.glob("fold*/oof.csv"))
    assert len(oof) == 240 and {"0", "1"} <= set(oof.columns) and np.allclose(oof[["0", "1"]].sum(axis=1), 1, atol=1e-4)
    assert main(["predict", "titanic", "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["PassengerId", "Survived"] and set(submission["Survived"]) <= {0, 1}
    assert list(submission["PassengerId"]) == list(range(241, 321))
    assert main(["validate", "titanic", str(run / "submission.csv"), "--data-dir", str(data)]) == 0
    # The stack: LightGBM and CatBoost (real boosters), logistic regression and the MLP on the same folds,
    # blended with the weighting (non-negative least loss, or greedy selection) of the better nested score.
    quick = tmp_path / "quick-lgb.yaml"
    quick.write_text(yaml.safe_dump({"model": {"n_estimators": 60, "early_stopping_rounds": 20}}))
    quick_cb = tmp_path / "quick-cb.yaml"
    quick_cb.write_text(yaml.safe_dump({"model": {"iterations": 60, "early_stopping_rounds": 20}}))
    stack = tmp_path / "stack.yaml"
    quick_tabm = tmp_path / "quick-tabm.yaml"
    quick_tabm.write_text(yaml.safe_dump({"model": {"k": 4, "d_block": 32}, "trainer": {"max_epochs": 3}}))
    stack.write_text(yaml.safe_dump({"stack": {"families": ["lightgbm", "catboost", "tabm", "linear", "mlp"],
                                               "weights": "auto", "configs": {"mlp": "debug", "lightgbm": str(quick),
                                               "catboost": str(quick_cb), "tabm": str(quick_tabm)}}}))  # fmt: skip
    capsys.readouterr()
    assert main(["fit", "titanic", "--data-dir", str(data), "--config", str(stack), "--n-folds=2"]) == 0
    root = workdir / "runs" / "titanic"
    booster = joblib.load(root / "stack-lightgbm" / "fold0" / "model.joblib")
    assert type(booster).__name__ == "LightGBMClassifier" and booster.model.booster_.num_trees() > 0
    assert (root / "stack-lightgbm" / "fold0" / "booster.txt").exists()
    cb = joblib.load(root / "stack-catboost" / "fold1" / "model.joblib")
    cb_oof = pd.read_csv(root / "stack-catboost" / "fold1" / "oof.csv")
    assert type(cb).__name__ == "CatBoostClassifier" and np.allclose(cb_oof[["0", "1"]].sum(axis=1), 1)
    logistic = joblib.load(root / "stack-linear" / "fold1" / "model.joblib")
    assert type(logistic).__name__ == "LogisticClassifier" and logistic.model.C_ > 0
    scores = {name: json.loads((root / name / "cv.json").read_text())["oof"]
              for name in ("stack-lightgbm", "stack-catboost", "stack-tabm", "stack-linear", "stack-mlp", "stack")}  # fmt: skip
    assert all(0.5 < s <= 1 for s in scores.values()), scores  # the sex/class signal is learnt by every family
    blend = json.loads((root / "stack" / "ensemble.json").read_text())
    weights = [m["weight"] for m in blend["members"]]
    tabm_oof = pd.read_csv(root / "stack-tabm" / "fold0" / "oof.csv")
    assert np.allclose(tabm_oof[["0", "1"]].sum(axis=1), 1, atol=1e-4)  # the mean of the heads' probabilities
    nested = blend["weighting_nested_oof"]
    assert set(nested) == {"oof", "caruana", "linear"} and blend["oof_nested"] == nested[blend["weighting"]]
    # The simplest blender (caruana, oof, linear) within one standard error of the best nested score.
    assert list(nested) == ["caruana", "oof", "linear"] and blend["weighting_error"] >= 0
    assert blend["weighting"] == next(h for h in nested if nested[h] >= max(nested.values()) - blend["weighting_error"])
    assert len(weights) == 5 and min(weights) >= 0 and abs(sum(weights) - 1) < 1e-6  # shares, a linear model's too
    assert f"weights by {blend['weighting']}" in capsys.readouterr().err
    stacked = pd.read_csv(root / "stack" / "submission.csv")
    assert list(stacked.columns) == ["PassengerId", "Survived"] and set(stacked["Survived"]) <= {0, 1}
    assert main(["validate", "titanic", str(root / "stack" / "submission.csv"), "--data-dir", str(data)]) == 0
    # Women survive far more often in the fixture: the blended submission has learnt it.
    test = pd.read_csv(data / "test.csv")
    women = stacked["Survived"][test["Sex"].to_numpy() == "female"].mean()
    men = stacked["Survived"][test["Sex"].to_numpy() == "male"].mean()
    assert women > men


def test_playground_regression_with_negative_targets(tmp_path, workdir, capsys):
    data = make_playground(tmp_path, "playground-series-s9e1", binary=False)
    assert main(["init", "playground-series-s9e1", "--data-dir", str(data), "--metric", "rmse"]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / "playground-series-s9e1.yaml").read_text())
    assert spec["task"] == "regression" and spec["submission"] == "value" and spec["target_column"] == "target"
    assert main(["fit", "playground-series-s9e1", "--data-dir", str(data), "--config", "lightgbm", "--experiment",
                 "lgb", *QUICK_LGB]) == 0  # fmt: skip
    assert main(["fit", "playground-series-s9e1", "--data-dir", str(data), "--config", "linear", "--experiment",
                 "ridge", "--n-folds=2"]) == 0  # fmt: skip
    assert main(["fit", "playground-series-s9e1", "--data-dir", str(data), "--config", "debug",
                 "--trainer.max_epochs=40", "--model.warmup_epochs=0"]) == 0  # fmt: skip
    root = workdir / "runs" / "playground-series-s9e1"
    train = pd.read_csv(data / "train.csv")
    spread = float(train["target"].std())
    for name in ("lgb", "ridge", "baseline"):
        cv = json.loads((root / name / "cv.json").read_text())
        assert cv["metric"] == "rmse" and cv["oof"] < spread, (name, cv["oof"], spread)  # better than the mean
        assert main(["predict", "playground-series-s9e1", "--run", str(root / name)]) == 0
    ridge = pd.read_csv(root / "ridge" / "submission.csv")
    assert (ridge["target"] < 0).any()  # values as they are: negative targets are predicted, not refused
    assert main(["validate", "playground-series-s9e1", str(root / "ridge" / "submission.csv"), "--data-dir",
                 str(data)]) == 0  # fmt: skip
    assert main(["ensemble", "playground-series-s9e1", str(root / "lgb"), str(root / "ridge"), "--weights", "oof",
                 "--name", "blend"]) == 0  # fmt: skip
    blend = json.loads((root / "blend" / "ensemble.json").read_text())
    single = min(json.loads((root / n / "cv.json").read_text())["oof"] for n in ("lgb", "ridge"))
    assert blend["oof"] <= single + 1e-9  # weights fitted to the metric itself (RMSE) on these rows
    # A target that is not a number: one line naming the file, the row and the column.
    text = (data / "train.csv").read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ",n/a"
    (data / "train.csv").write_text("\n".join(text) + "\n")
    capsys.readouterr()
    assert main(["fit", "playground-series-s9e1", "--data-dir", str(data), "--config", "linear", "--experiment",
                 "again"]) == 3  # fmt: skip
    line = error_line(capsys)
    assert "train.csv line 6" in line and "target" in line and "numbers" in line


def test_binary_probability_submission_and_tune(tmp_path, workdir, capsys):
    data = make_playground(tmp_path, "playground-series-s9e2", binary=True)
    slug = "playground-series-s9e2"
    assert main(["init", slug, "--data-dir", str(data), "--metric", "auc"]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / f"{slug}.yaml").read_text())
    assert spec["task"] == "classification" and spec["submission"] == "probability"
    assert main(["tune", slug, "--data-dir", str(data), "--family", "linear", "--trials", "3", "--n-folds=2"]) == 0
    best = workdir / "runs" / slug / "tune-linear" / "best.yaml"
    tuned = yaml.safe_load(best.read_text())
    assert tuned["family"] == "linear" and tuned["model"]["C"] > 0
    assert main(["fit", slug, "--data-dir", str(data), "--config", str(best), "--experiment", "tuned"]) == 0
    run = workdir / "runs" / slug / "tuned"
    assert json.loads((run / "cv.json").read_text())["oof"] > 0.75  # AUC of a learnable signal
    assert main(["predict", slug, "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["id", "target"] and submission["target"].between(0, 1).all()
    assert submission["target"].nunique() > 10  # probabilities, not labels
    # The probability is the positive class's: it ranks the test rows the way the positive class's
    # column of the fold predictions does.
    folds = [pd.read_csv(p) for p in sorted((run / "test").glob("fold*.csv"))]
    positive = np.mean([f["1"].to_numpy() for f in folds], axis=0)
    assert np.corrcoef(positive, submission["target"])[0, 1] > 0.99
    assert main(["validate", slug, str(run / "submission.csv"), "--data-dir", str(data)]) == 0


def test_tabular_init_says_what_it_cannot_decide(tmp_path, workdir, capsys):
    data = make_playground(tmp_path, "two-targets", binary=False)
    train = pd.read_csv(data / "train.csv")
    train["other"] = 1.0  # a second column test.csv lacks: the target is ambiguous
    train.to_csv(data / "train.csv", index=False)
    pd.read_csv(data / "sample_submission.csv").rename(columns={"target": "y"}).to_csv(
        data / "sample_submission.csv", index=False)  # fmt: skip
    assert main(["init", "two-targets", "--data-dir", str(data), "--metric", "rmse"]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / "two-targets.yaml").read_text())
    assert spec["target_column"] == "FILL_ME" and spec["task"] == "FILL_ME"
    capsys.readouterr()
    assert main(["fit", "two-targets", "--data-dir", str(data), "--config", "debug"]) == 1
    line = error_line(capsys)
    assert "target_column" in line and "FILL_ME" in line
    assert main(["init", "two-targets", "--data-dir", str(data), "--metric", "rmse", "--target", "target",
                 "--task", "regression", "--force"]) == 0  # fmt: skip
    spec = yaml.safe_load((workdir / "competitions.d" / "two-targets.yaml").read_text())
    assert spec["task"] == "regression" and spec["submission_column"] == "y"


def test_multiclass_table_with_one_probability_column_per_class(tmp_path, workdir, capsys):
    """Three classes named by words, a high-cardinality column (target-encoded per class), log loss, and a
    sample submission with one probability column per class."""
    rng = np.random.default_rng(4)
    n_train, n_test = 240, 60
    n = n_train + n_test
    x = rng.normal(size=n)
    city = rng.choice([f"city{i:02d}" for i in range(45)], n)
    city_effect = {c: rng.normal(0, 1.5) for c in np.unique(city)}
    score = 1.5 * x + np.array([city_effect[c] for c in city]) + rng.normal(0, 0.5, n)
    grade = np.where(score < -0.7, "low", np.where(score < 0.7, "mid", "high"))
    frame = pd.DataFrame({"row_id": [f"r{i}" for i in range(n)], "x": np.round(x, 4), "city": city, "grade": grade})
    data = tmp_path / "grades"
    data.mkdir()
    frame.iloc[:n_train].to_csv(data / "train.csv", index=False)
    frame.iloc[n_train:].drop(columns="grade").to_csv(data / "test.csv", index=False)
    sample = pd.DataFrame({"row_id": frame["row_id"].iloc[n_train:], "high": 1 / 3, "low": 1 / 3, "mid": 1 / 3})
    sample.to_csv(data / "sample_submission.csv", index=False)
    assert main(["init", "grades", "--data-dir", str(data), "--metric", "log_loss"]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / "grades.yaml").read_text())
    assert spec["task"] == "classification" and spec["submission"] == "probabilities"
    assert spec["classes"] == ["high", "low", "mid"] and spec["target_column"] == "grade"
    assert main(["fit", "grades", "--data-dir", str(data), "--config", "linear", "--experiment", "logistic",
                 "--n-folds=2", "--data.max_onehot=10"]) == 0  # fmt: skip
    run = workdir / "runs" / "grades" / "logistic"
    preprocessor = joblib.load(run / "fold0" / "preprocessor.joblib")
    encoded = [n for n in preprocessor.get_feature_names_out() if n.startswith("high_card__")]
    assert len(encoded) == 3  # the city, target-encoded once per class
    cv = json.loads((run / "cv.json").read_text())
    assert cv["metric"] == "log_loss" and cv["oof"] < np.log(3)  # better than the uniform guess
    assert main(["predict", "grades", "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["row_id", "high", "low", "mid"]
    assert np.allclose(submission[["high", "low", "mid"]].sum(axis=1), 1, atol=1e-6)
    assert main(["validate", "grades", str(run / "submission.csv"), "--data-dir", str(data)]) == 0
