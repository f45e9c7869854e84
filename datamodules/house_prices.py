"""The house-price competitions in Kaggle's layout; the shared TabularDataModule does the work,
and each competition's YAML config (data.*) names its dates, text and high-cardinality columns."""

from __future__ import annotations

from competitions.catalog.house_prices import AMES, CALIFORNIA
from datamodules.tabular import TabularDataModule


class AmesDataModule(TabularDataModule):
    """house-prices-advanced-regression-techniques: 79 features of houses in Ames, Iowa; SalePrice."""

    spec = AMES


class CaliforniaDataModule(TabularDataModule):
    """california-house-prices: 39 features incl. free text, dates and mixed-type columns; Sold Price."""

    spec = CALIFORNIA
