"""The two house-price competitions: Ames (house-prices-advanced-regression-techniques) and the
d2l course's california-house-prices. Tabular regression scored by the RMSE of log price.

Layouts in shared/competitions.md: train.csv (Id, features, target), test.csv (the same without
the target), sample_submission.csv (Id + target). Which columns are dates, text or high-cardinality
categories lives in each competition's YAML config (data.*), with general rules for the rest.
"""

from __future__ import annotations

from competitions.catalog.presets import CONFIG_ROOT
from competitions.core.metrics import RMSE_LOG
from competitions.core.spec import CompetitionSpec

# The model families of a tabular regression (`compete fit SLUG --family NAME`, or --config NAME).
TABULAR_REGRESSION_FAMILIES = {
    "mlp": "lightning_modules.house_prices:HousePriceMLP",
    "lightgbm": "lightning_modules.boosting:LightGBMRegressor",
    "ridge": "lightning_modules.linear:LinearRegressor",
}


def _house_prices(slug: str, title: str, target: str, datamodule: str) -> CompetitionSpec:
    return CompetitionSpec(
        slug=slug,
        title=title,
        task="regression",
        metric=RMSE_LOG,
        expected_files=("train.csv", "test.csv", "sample_submission.csv"),
        train_csv="train.csv",
        id_column="Id",
        target_column=target,
        sample_submission="sample_submission.csv",
        submission_kind="value",
        datamodule=f"datamodules.house_prices:{datamodule}",
        model="lightning_modules.house_prices:HousePriceMLP",
        monitor="val/rmse_log",
        monitor_mode="min",
        archives={f"{slug}.zip": f"unzip {slug}.zip first"},
        url=f"https://www.kaggle.com/c/{slug}",
        config_dir=CONFIG_ROOT / slug,
        families=TABULAR_REGRESSION_FAMILIES,
    )


AMES = _house_prices(
    "house-prices-advanced-regression-techniques",
    "House Prices - Advanced Regression Techniques (Ames, Iowa)",
    "SalePrice",
    "AmesDataModule",
)
CALIFORNIA = _house_prices(
    "california-house-prices", "California House Prices (d2l)", "Sold Price", "CaliforniaDataModule"
)
