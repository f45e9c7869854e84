"""The two house-price competitions: Ames (house-prices-advanced-regression-techniques) and the
d2l course's california-house-prices. Tabular regression scored by the RMSE of log price.

Layouts in shared/competitions.md: train.csv (Id, features, target), test.csv (the same without
the target), sample_submission.csv (Id + target). The specs are the files specs/SLUG.yaml (their
model families: mlp, lightgbm, ridge); which columns are dates, text or high-cardinality categories
lives in each competition's presets (configs/SLUG/, data.*), with general rules for the rest.
"""

from __future__ import annotations

from competitions.catalog.spec_files import builtin_spec

AMES = builtin_spec("house-prices-advanced-regression-techniques")
CALIFORNIA = builtin_spec("california-house-prices")
