"""The house-price LightningModule: the shared MLP regressor on the log price."""

from __future__ import annotations

from lightning_modules.tabular import MLPRegressor


class HousePriceMLP(MLPRegressor):
    """An MLP on the preprocessed features, trained on the standardised log price."""
