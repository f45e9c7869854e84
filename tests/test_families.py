"""The tabular model families (LightGBM, ridge, the MLP), the stack that blends them, and compete tune.

Real LightGBM boosters, real scikit-learn models, a real Optuna study in SQLite; tiny data and few rounds.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from competitions.commands.cli import main
from tests.helpers import error_line
from tests.helpers import fit as fit_with

AMES = "house-prices-advanced-regression-techniques"
fit = functools.partial(fit_with, config=None)  # each family from its own preset
QUICK_LGB = ["--model.n_estimators=60", "--model.early_stopping_rounds=20", "--n-folds=2"]


def runs(workdir: Path) -> Path:
    return workdir / "runs" / AMES




def test_lightgbm_family_fits_native_categoricals_and_saves_each_fold(competition_dir, workdir, capsys):
    import lightgbm as lgb

    data = competition_dir(AMES)
    assert fit(AMES, data, "--config", "lightgbm", "--experiment", "lgb", *QUICK_LGB) == 0
    run = runs(workdir) / "lgb"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["family"] == "lightgbm" and config["model"]["num_leaves"] == 8  # from lightgbm.yaml
    assert config["data"]["derived"]["TotalSF"]  # from _common.yaml
    assert len(config["meta"]["data_sha256"]["train.csv"]) == 64
    for k in (0, 1):
        fold = run / f"fold{k}"
        model = joblib.load(fold / "model.joblib")
        preprocessor = joblib.load(fold / "preprocessor.joblib")
        # Categories go to the booster as integer codes it splits natively: no one-hot columns.
        names = list(preprocessor.get_feature_names_out())
        assert "category__Neighborhood" in names and not any(n.startswith("Neighborhood_") for n in names)
        assert model.model.booster_.params["categorical_column"]  # told which columns are categories
        # The saved booster alone (LightGBM's text format) reproduces the out-of-fold predictions.
        oof = pd.read_csv(fold / "oof.csv", dtype={"id": str})
        train = pd.read_csv(data / "train.csv", dtype={"Id": str}, keep_default_na=False, na_values=[""])
        assert set(oof["id"]) <= set(train["Id"])
        metrics = json.loads((fold / "metrics.json").read_text())
        assert 0 < metrics["epochs"] <= 60  # the round early stopping chose
        booster = lgb.Booster(model_file=str(fold / "booster.txt"))
        assert booster.num_trees() == metrics["epochs"]
    assert main(["predict", AMES, "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert len(submission) == 40 and (submission["SalePrice"] > 10_000).all()


def test_catboost_family_fits_native_categoricals_and_predict_reuses_its_folds(competition_dir, workdir, capsys,
                                                                             monkeypatch):  # fmt: skip
    import catboost

    import datamodules.tabular as tabular

    data = competition_dir(AMES)
    quick = ["--model.iterations=60", "--model.early_stopping_rounds=20", "--n-folds=2"]
    assert fit(AMES, data, "--family", "catboost", "--experiment", "cb", *quick) == 0
    run = runs(workdir) / "cb"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["family"] == "catboost" and config["model"]["depth"] == 6  # from catboost.yaml
    fold = run / "fold0"
    model = joblib.load(fold / "model.joblib")
    assert type(model).__name__ == "CatBoostRegressor" and model.model.get_cat_feature_indices()  # categories native
    # The model in CatBoost's own format alone reproduces the fold's out-of-fold predictions.
    native = catboost.CatBoostRegressor()
    native.load_model(str(fold / "model.cbm"))
    metrics = json.loads((fold / "metrics.json").read_text())
    assert 0 < metrics["epochs"] <= 60 and native.tree_count_ == metrics["epochs"]
    with monkeypatch.context() as patched:
        patched.setattr(tabular, "fit_transform", lambda *a, **k: pytest.fail("predict refitted the preprocessing"))
        assert main(["predict", AMES, "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert len(submission) == 40 and (submission["SalePrice"] > 10_000).all()
    text = (data / "train.csv").read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ",123456"
    (data / "train.csv").write_text("\n".join(text) + "\n")
    capsys.readouterr()
    assert main(["predict", AMES, "--run", str(run)]) == 1
    assert "train.csv: changed since the run was fitted" in error_line(capsys)


def test_tabm_family_trains_k_heads_and_predicts_their_mean(competition_dir, workdir, capsys, monkeypatch):
    import torch

    import datamodules.tabular as tabular
    from lightning_modules.tabm import TabMRegressor

    data = competition_dir(AMES)
    quick = ["--model.k=4", "--model.d_block=32", "--trainer.max_epochs=3", "--n-folds=2"]
    assert fit(AMES, data, "--family", "tabm", "--experiment", "tabm", *quick) == 0
    run = runs(workdir) / "tabm"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["family"] == "tabm" and config["data"]["scaling"] == "quantile" and config["model"]["k"] == 4
    model = TabMRegressor.load_from_checkpoint(run / "fold0" / "best.ckpt", map_location="cpu").eval()
    x = torch.randn(5, model.hparams.num_features)
    with torch.no_grad():
        heads = model.heads(x)
        assert heads.shape == (5, 4) and torch.allclose(model(x), heads.mean(dim=1))
    with monkeypatch.context() as patched:
        patched.setattr(tabular, "fit_transform", lambda *a, **k: pytest.fail("predict refitted the preprocessing"))
        assert main(["predict", AMES, "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert len(submission) == 40 and (submission["SalePrice"] > 10_000).all()
    (data / "train.csv").write_text((data / "train.csv").read_text().replace(",", ", ", 1))
    capsys.readouterr()
    assert main(["predict", AMES, "--run", str(run)]) == 1
    assert "train.csv: changed since the run was fitted" in error_line(capsys)


def test_predict_reuses_the_saved_preprocessing_and_refuses_a_changed_train_csv(competition_dir, workdir, capsys,
                                                                             monkeypatch):  # fmt: skip
    import datamodules.tabular as tabular

    data = competition_dir(AMES)
    assert fit(AMES, data, "--family", "ridge", "--experiment", "ridge", "--n-folds=2") == 0
    run = runs(workdir) / "ridge"

    def no_refit(*args, **kwargs):
        raise AssertionError("predict refitted the preprocessing")

    with monkeypatch.context() as patched:
        patched.setattr(tabular, "fit_transform", no_refit)
        assert main(["predict", AMES, "--run", str(run)]) == 0
    first = (run / "test" / "fold0.csv").read_bytes()
    # The same file predicted again: identical bytes.
    assert main(["predict", AMES, "--run", str(run)]) == 0
    assert (run / "test" / "fold0.csv").read_bytes() == first
    capsys.readouterr()
    # One changed price in train.csv: the folds' models were fitted on the old file.
    text = (data / "train.csv").read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ",123456"
    (data / "train.csv").write_text("\n".join(text) + "\n")
    assert main(["predict", AMES, "--run", str(run)]) == 1
    line = error_line(capsys)
    assert "train.csv: changed since the run was fitted" in line and "fit a new experiment" in line
    assert (run / "test" / "fold0.csv").read_bytes() == first  # nothing overwritten
    # Resuming it is refused the same way, unless forced.
    assert fit(AMES, data, "--family", "ridge", "--experiment", "ridge", "--n-folds=2", "--resume") == 1
    assert "changed since the run was fitted" in error_line(capsys)


def test_ridge_family_logs_only_the_skewed_columns():
    from datamodules.features import SkewedLog1p

    rng = np.random.default_rng(0)
    x = np.column_stack([np.exp(rng.normal(7, 1, 500)), rng.normal(0, 1, 500)])  # long-tailed, symmetric
    out = SkewedLog1p(0.75).fit(x).transform(x)
    assert np.allclose(out[:, 0], np.log1p(x[:, 0])) and np.array_equal(out[:, 1], x[:, 1])


def test_the_outlier_rule_leaves_rows_out_of_training_but_not_out_of_fold(competition_dir, tmp_path):
    from competitions.catalog import COMPETITIONS
    SPEC = COMPETITIONS["house-prices-advanced-regression-techniques"]
    from competitions.pipeline.factory import build_datamodule

    data = competition_dir(AMES)
    datamodule = build_datamodule(SPEC, data, tmp_path, drop_rows="GrLivArea > 1800")
    datamodule.ensure_folds(tmp_path / "folds.csv", 3, 0)
    big = np.flatnonzero(datamodule.raw_train["GrLivArea"].to_numpy() > 1800)
    assert 0 < len(big) < 60
    seen = []
    for fold in range(3):
        datamodule.set_fold(fold)
        assert not set(big) & set(datamodule.train_indices())
        seen += list(datamodule.val_indices())
    assert set(big) <= set(seen) and len(seen) == 120  # every row still predicted out of fold
    # A derived column is computed in both CSVs from the named columns.
    datamodule = build_datamodule(SPEC, data, tmp_path, derived={"TotalSF": "TotalBsmtSF + `1stFlrSF` + `2ndFlrSF`"})
    raw = datamodule.raw_test
    assert np.allclose(raw["TotalSF"], raw["TotalBsmtSF"] + raw["1stFlrSF"] + raw["2ndFlrSF"])


def test_native_encoding_codes_unseen_categories_and_keeps_missing_numbers():
    from datamodules.features import FeatureConfig, fit_transform, native_categorical_columns

    frame = pd.DataFrame({"area": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0], "hood": ["a", "a", "b", "b", "a", "c"]},
                         dtype=object).astype({"area": float})  # fmt: skip
    roles = {"area": "numeric", "hood": "categorical"}
    config = FeatureConfig(encoding="native", min_frequency=1)
    transformer, x = fit_transform(frame, roles, config, np.arange(5), np.zeros(5))
    assert np.isnan(x[1, 0]) and x[0, 0] == 1.0  # numbers as they are
    [hood] = native_categorical_columns(transformer)
    test = transformer.transform(pd.DataFrame({"area": [2.0], "hood": ["zzz"]}))
    assert test[0, hood] == -1  # unseen: LightGBM reads a negative code as missing


def test_bad_family_settings_are_one_line(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    assert fit(AMES, data, "--family", "xgboost") == 2
    line = error_line(capsys)
    assert "xgboost" in line and "lightgbm" in line and "ridge" in line
    assert fit(AMES, data, "--family", "lightgbm", "--budget", "soon") == 2
    assert "--budget 'soon': write a duration like 90s" in error_line(capsys)
    assert fit(AMES, data, "--family", "ridge", "--data.drop_rows=NoSuchColumn > 3") == 3
    line = error_line(capsys)
    assert "train.csv" in line and "drop_rows" in line and "NoSuchColumn" in line
    assert fit(AMES, data, "--family", "ridge", "--experiment", "d", "--data.derived={X: LotArea +* 2}") == 3
    line = error_line(capsys)
    assert "derived" in line and "X" in line
    assert main(["tune", AMES, "--data-dir", str(data), "--family", "mlp", "--trials", "1"]) == 1
    assert "tune searches the tree and linear families" in error_line(capsys)


def test_fit_help_lists_the_chosen_familys_options(capsys):
    with pytest.raises(SystemExit):
        main(["fit", AMES, "--family", "lightgbm", "--help"])
    text = capsys.readouterr().out
    assert "--model.num_leaves" in text and "--model.hidden" not in text and "--family" in text


def test_stack_blends_every_family_and_scores_the_blend_nested(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    quick = workdir / "quick-lgb.yaml"
    quick.write_text("model: {n_estimators: 60, early_stopping_rounds: 20}\n")
    stack = workdir / "stack.yaml"
    stack.write_text(yaml.safe_dump({"stack": {"families": ["lightgbm", "ridge", "mlp"], "weights": "oof",
                                               "configs": {"lightgbm": str(quick), "mlp": "debug"}}}))  # fmt: skip
    assert fit(AMES, data, "--config", str(stack), "--n-folds=2") == 0
    root = runs(workdir)
    members = {name: json.loads((root / f"stack-{name}" / "cv.json").read_text()) for name in ("lightgbm", "ridge", "mlp")}
    blend = json.loads((root / "stack" / "ensemble.json").read_text())
    assert [Path(m["run"]).name for m in blend["members"]] == ["stack-lightgbm", "stack-ridge", "stack-mlp"]
    assert abs(sum(m["weight"] for m in blend["members"]) - 1) < 1e-6
    assert all(m["weight"] >= 0 for m in blend["members"])
    cv = json.loads((root / "stack" / "cv.json").read_text())
    assert cv["oof"] == blend["oof_nested"] and cv["oof_in_sample"] == blend["oof"]
    # Fitted on the rows it blends, the in-sample blend is at least as good as its best member.
    assert blend["oof"] <= min(m["oof"] for m in members.values()) + 1e-9
    assert main(["validate", AMES, str(root / "stack" / "submission.csv"), "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["runs", AMES]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("stack-lightgbm", "stack-ridge", "stack-mlp", "stack "))
    # Resumed: finished families are kept, the blend is written again.
    before = (root / "stack-ridge" / "fold0" / "model.joblib").stat().st_mtime_ns
    assert fit(AMES, data, "--config", str(stack), "--n-folds=2", "--resume") == 0
    assert (root / "stack-ridge" / "fold0" / "model.joblib").stat().st_mtime_ns == before
    assert "stack-ridge is finished" in capsys.readouterr().err


def test_tune_writes_a_preset_continues_its_study_and_survives_a_kill(competition_dir, workdir, capsys):
    import optuna

    data = competition_dir(AMES)
    args = ["tune", AMES, "--data-dir", str(data), "--n-folds=2", "--model.n_estimators=40",
            "--model.early_stopping_rounds=10"]  # fmt: skip
    assert main([*args, "--trials", "2"]) == 0
    folder = runs(workdir) / "tune-lightgbm"
    storage = f"sqlite:///{folder / 'study.db'}"
    study = optuna.load_study(study_name=f"{AMES}-lightgbm", storage=storage)
    assert len(study.trials) == 2
    preset = yaml.safe_load((folder / "best.yaml").read_text())
    assert preset["family"] == "lightgbm" and preset["model"]["num_leaves"] == study.best_params["num_leaves"]
    # The same command with a larger budget continues the study.
    assert main([*args, "--trials", "3"]) == 0
    assert len(optuna.load_study(study_name=f"{AMES}-lightgbm", storage=storage).trials) == 3
    # A tune killed in the middle of a trial: the next run still reaches the budget of finished trials.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "competitions.commands.cli", *args, "--trials", "50", "--model.n_estimators=4000",
               "--model.early_stopping_rounds=4000"]  # fmt: skip
    child = subprocess.Popen(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        for line in child.stderr:
            if line.startswith("trial ") or time.time() > deadline:
                break
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    count = len(optuna.load_study(study_name=f"{AMES}-lightgbm", storage=storage).get_trials(states=finished))
    assert main([*args, "--trials", str(count + 1)]) == 0
    study = optuna.load_study(study_name=f"{AMES}-lightgbm", storage=storage)
    assert len(study.get_trials(states=finished)) == count + 1
    # The preset fits as it is.
    assert fit(AMES, data, "--config", str(folder / "best.yaml"), "--experiment", "tuned") == 0
    tuned = yaml.safe_load((runs(workdir) / "tuned" / "config.yaml").read_text())
    assert tuned["model"]["learning_rate"] == pytest.approx(study.best_params["learning_rate"])
