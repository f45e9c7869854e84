"""What the pipeline may ask of every competition's LightningModule, as base-class methods (no probing)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import lightning as L


class CompeteModule(L.LightningModule):
    """The base of every model `compete` trains: how a checkpoint is re-loaded for prediction, and
    whether test-time augmentation applies."""

    # Whether `compete predict --tta` applies (image classifiers that return class probabilities).
    supports_tta: ClassVar[bool] = False
    # How the pipeline trains a fold of it (competitions/pipeline/folds.py); the tree and linear
    # families (estimators/) say "estimator".
    fold_trainer: ClassVar[str] = "lightning"
    budget_weight: ClassVar[float] = 1.0  # a stack under `budget`: its share of the time, against the others'

    @classmethod
    def checkpoint_overrides(cls) -> dict:
        """Constructor arguments to override when a checkpoint is re-loaded for prediction
        (e.g. never fetch pretrained weights again: the checkpoint holds the trained ones)."""
        return {}

    @classmethod
    def load_for_prediction(cls, checkpoint: str | Path) -> CompeteModule:
        return cls.load_from_checkpoint(checkpoint, map_location="cpu", **cls.checkpoint_overrides())

    @classmethod
    def build_untrained(cls, **kwargs) -> CompeteModule:
        """A model with the given settings and no pretrained weights (for pictures of what mixing does)."""
        return cls(**{**kwargs, **cls.checkpoint_overrides()})
