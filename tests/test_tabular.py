"""Tabular features: roles by general rules, parsing, per-fold fitting without leakage, unseen categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from competitions.catalog import COMPETITIONS
from competitions.pipeline.factory import datamodule_class
from datamodules.features import MISSING, FeatureConfig, infer_roles, parse_dates, parse_numbers, typed_frame

AMES = "house-prices-advanced-regression-techniques"
# The built-ins run on the generic tabular DataModule, bound to their specs.
AmesDataModule = datamodule_class(COMPETITIONS[AMES])
CaliforniaDataModule = datamodule_class(COMPETITIONS["california-house-prices"])


def test_roles_follow_general_rules_without_any_config(competition_dir):
    data = competition_dir("california-house-prices")
    frame = pd.read_csv(data / "train.csv", keep_default_na=False, na_values=[""])
    roles = infer_roles(frame.drop(columns=["Id", "Sold Price"]), FeatureConfig())
    assert roles["Address"] == "text" and roles["Summary"] == "text"
    assert roles["Listed On"] == "date" and roles["Last Sold On"] == "date"
    assert roles["Bedrooms"] == "numeric"  # numbers with a few room lists in between
    assert roles["Flooring"] == "multi_label" and roles["Appliances included"] == "multi_label"
    assert roles["Type"] == "categorical" and roles["Lot"] == "numeric"
    assert roles["Elementary School"] == "categorical" or roles["Elementary School"] == "high_card"
    # The config wins over the rules.
    assert infer_roles(frame[["Zip"]], FeatureConfig(high_card=("Zip",)))["Zip"] == "high_card"
    assert "State" not in infer_roles(frame[["State"]], FeatureConfig(drop=("State",)))


def test_parsing_mixed_types_dates_and_missing_categories():
    numbers = parse_numbers(pd.Series(["3", "$1,200", "Walk-in Closets, Office", None, " 2.5 "]))
    np.testing.assert_array_equal(numbers.to_numpy(), [3.0, 1200.0, np.nan, np.nan, 2.5])
    dates = parse_dates(pd.Series(["2020-01-31", "1/2/2021", "soon", None]))
    assert dates["days"].iloc[0] == (pd.Timestamp("2020-01-31") - pd.Timestamp("1970-01-01")).days
    assert dates["month"].iloc[1] == 1 and dates[["days", "month"]].iloc[2:].isna().all().all()
    typed = typed_frame(pd.DataFrame({"c": ["a", None, " "]}), {"c": "categorical"})
    assert typed["c"].tolist() == ["a", MISSING, MISSING]


def _fold0(datamodule, folds_csv):
    datamodule.ensure_folds(folds_csv, 2, 0)
    datamodule.set_fold(0)
    return datamodule


def test_preprocessing_is_fitted_on_the_training_fold_only(competition_dir, tmp_path):
    data = competition_dir(AMES)
    folds_csv = tmp_path / "folds.csv"
    clean = _fold0(AmesDataModule(data_dir=str(data), categorical=["MSSubClass"]), folds_csv)
    train_x, _, _, scale = clean.fold_features()
    val = clean.val_indices()

    # Rewrite every validation row: wild areas, a new neighbourhood, ten times the price.
    train = pd.read_csv(data / "train.csv", keep_default_na=False, dtype=str)
    train.loc[val, "LotArea"] = "999999"
    train.loc[val, "Neighborhood"] = "Atlantis"
    train.loc[val, "SalePrice"] = (train.loc[val, "SalePrice"].astype(float) * 10).astype(int).astype(str)
    train.to_csv(data / "train.csv", index=False)
    changed = _fold0(AmesDataModule(data_dir=str(data), categorical=["MSSubClass"]), folds_csv)
    changed_x, _, _, changed_scale = changed.fold_features()

    rows = clean.train_indices()
    np.testing.assert_array_equal(train_x[rows], changed_x[rows])  # training rows: not a bit moved
    assert scale == changed_scale  # the target scale comes from the training rows too
    assert not np.array_equal(train_x[val], changed_x[val])  # and the validation rows did change


def test_unseen_and_rare_test_categories_are_handled(competition_dir, tmp_path):
    data = competition_dir(AMES)
    datamodule = _fold0(AmesDataModule(data_dir=str(data), min_frequency=3), tmp_path / "folds.csv")
    _, test_x, _, _ = datamodule.fold_features()
    assert np.isfinite(test_x).all() and test_x.shape[0] == 40
    encoder = datamodule.preprocessor.named_transformers_["categorical"]
    hood = list(datamodule.preprocessor.transformers_[2][2]).index("Neighborhood")
    unseen = datamodule.raw_test["Neighborhood"].eq("Greens").to_numpy()
    assert unseen.any() and "Greens" not in encoder.categories_[hood]
    onehot = encoder.transform(datamodule.typed[1].loc[unseen, encoder.feature_names_in_])
    names = encoder.get_feature_names_out()
    hood_columns = [i for i, n in enumerate(names) if n.startswith("Neighborhood_")]
    infrequent = [i for i in hood_columns if names[i].endswith("infrequent_sklearn")]
    assert infrequent and (onehot[:, infrequent] == 1).all()  # pooled with the rare ones


def test_california_features_from_its_config(competition_dir, tmp_path):
    import yaml

    from competitions.catalog import COMPETITIONS
    CALIFORNIA = COMPETITIONS["california-house-prices"]

    data = competition_dir("california-house-prices")
    config = {}  # the data settings an MLP fit starts from: _common.yaml, then default.yaml
    for preset in CALIFORNIA.base_presets("mlp"):
        config.update(yaml.safe_load(preset.read_text()).get("data") or {})
    config = {k: v for k, v in config.items() if k not in ("batch_size", "num_workers")}
    datamodule = _fold0(CaliforniaDataModule(data_dir=str(data), **config), tmp_path / "folds.csv")
    train_x, test_x, _, _ = datamodule.fold_features()
    roles = datamodule.roles
    assert roles["Zip"] == "high_card" and roles["Address"] == "text" and "State" not in roles
    # High-cardinality columns take one column each, not one per value.
    high_card = datamodule.preprocessor.named_transformers_["high_card"]
    assert high_card[0].get_feature_names_out().size == 6
    assert train_x.shape[1] == test_x.shape[1] < 150 and np.isfinite(test_x).all()


@pytest.mark.parametrize("scaling", ["quantile", "log", "standard"])
def test_every_scaling_gives_finite_features(competition_dir, tmp_path, scaling):
    data = competition_dir(AMES)
    datamodule = _fold0(AmesDataModule(data_dir=str(data), scaling=scaling), tmp_path / "folds.csv")
    train_x, test_x, _, _ = datamodule.fold_features()
    assert np.isfinite(train_x).all() and np.isfinite(test_x).all()


def test_target_encoding_of_training_rows_never_sees_their_own_price(competition_dir, tmp_path):
    """A column unique to each row is pure noise. Encoded with the fold's own prices it would look
    like a perfect predictor on the training rows; cross-fitted, it carries nothing."""
    data = competition_dir(AMES)
    for name in ("train.csv", "test.csv"):
        frame = pd.read_csv(data / name, keep_default_na=False, dtype=str)
        frame["Token"] = [f"{name}-{i}" for i in range(len(frame))]
        frame.to_csv(data / name, index=False)
    datamodule = _fold0(AmesDataModule(data_dir=str(data), high_card=["Token"]), tmp_path / "folds.csv")
    train_x, _, log_price, _ = datamodule.fold_features()
    token = train_x[:, datamodule.preprocessor.output_indices_["high_card"]][:, 0]
    rows = datamodule.train_indices()
    assert abs(np.corrcoef(token[rows], log_price[rows])[0, 1]) < 0.3
    # What the leak would have looked like: the same encoder applied to its own training rows.
    leaked = datamodule.preprocessor.transform(datamodule.typed[0].iloc[rows])
    leaked = leaked[:, datamodule.preprocessor.output_indices_["high_card"]][:, 0]
    assert np.corrcoef(leaked, log_price[rows])[0, 1] > 0.5
