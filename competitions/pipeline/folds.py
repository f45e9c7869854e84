"""The one interface the fold loop (fit), predict and tune talk to: how a model family trains a fold,
predicts a split, names its artifacts, and which options apply to it.

Two implementations: Lightning (every LightningModule: pipeline/folds_lightning.py) and estimator
(trees and linear models fitted with their library's API: pipeline/folds_estimator.py). A family names
its own (``fold_trainer = "lightning"`` on CompeteModule, ``"estimator"`` on TabularEstimator); the
pipeline never asks what kind of model it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from jsonargparse import Namespace

from competitions.core.errors import CompeteError, OptionError
from competitions.core.layout import RunLayout
from competitions.core.spec import CompetitionSpec

# Where each implementation lives; imported when first asked for (Lightning is slow to import).
IMPLEMENTATIONS = {
    "lightning": "competitions.pipeline.folds_lightning:LightningFoldTrainer",
    "estimator": "competitions.pipeline.folds_estimator:EstimatorFoldTrainer",
}


@dataclass
class FitContext:
    """Everything the folds of one fit share."""

    spec: CompetitionSpec
    cfg: Namespace
    config: dict  # the resolved config, as written to config.yaml
    layout: RunLayout
    datamodule: object
    selected: list[int]
    model_class: type
    done: set[int] = field(default_factory=set)
    tracker: object | None = None
    deadline: float | None = None  # `budget`: when the fit (its folds and their test predictions) must end
    started: float = 0.0  # when the fit started (`budget` counts from then)
    imports: float = 0.0  # seconds from then to the fit's call (a command's imports: `compete predict` pays them too)
    plan: object | None = None  # `budget` of a network: the plan (pipeline/fit_budget.py), re-made after a fold


class FoldTrainer:
    """Train a fold, predict a split, name the artifacts; say which options apply."""

    name: ClassVar[str]
    takes_budget: ClassVar[bool] = False  # --budget: the family can fit its folds within a wall-clock budget
    tunable: ClassVar[bool] = False  # compete tune searches its hyper-parameters
    uses_accelerator: ClassVar[bool] = False  # trains and predicts on trainer.accelerator (a GPU when there is one)
    # config.yaml keys that say nothing about this family's runs (a tree has no Trainer)
    unused_settings: ClassVar[tuple[str, ...]] = ()

    def check_options(self, spec: CompetitionSpec, cfg: Namespace) -> None:
        """Refuse, before anything is written, an option this family does not take or a value it cannot use."""
        if cfg.get("n_repeats") is not None and int(cfg.n_repeats) < 1:
            raise OptionError(f"`n_repeats` {cfg.get('n_repeats')}: repeats of the k-fold are 1 or more")
        if cfg.get("budget") is None:
            return
        if not self.takes_budget:
            raise CompeteError(f"`budget`: {cfg.get('family')} cannot be fitted within a wall-clock budget; leave "
                               "budget unset")  # fmt: skip
        from competitions.pipeline.fit_budget import external_launcher, parse_duration, planned_epochs_from_environment

        if parse_duration(cfg.budget) <= 0:
            raise OptionError(f"`budget` {cfg.budget!r}: a budget is a positive duration, like 90s, 10m or 1h30m")
        launcher = external_launcher()
        if launcher and planned_epochs_from_environment() is None:
            raise OptionError(f"`budget` with processes started by {launcher}: each would probe and plan on its own "
                              "(and choose other epochs); let Lightning start them (trainer.devices N, trainer.strategy "
                              "ddp), or plan once on one process and set trainer.max_epochs to its plan")  # fmt: skip

    def plan_budget(self, context: FitContext, started: float) -> bool:
        """Fit the run into ``budget`` (from ``started``); True when this process made a plan others read."""
        from competitions.pipeline.fit_budget import parse_duration

        context.started, context.deadline = started, started + parse_duration(context.cfg.budget)
        return False

    def recorded(self, config: dict) -> dict:
        """The resolved config as config.yaml keeps it: without the settings that do not apply."""
        return {key: value for key, value in config.items() if key not in self.unused_settings}

    def train_fold(self, context: FitContext, fold: int) -> dict | None:
        """Train ``fold``, write its model, OOF predictions and metrics; the metrics (None on DDP ranks > 0)."""
        raise NotImplementedError

    def model_file(self, layout: RunLayout, fold: int, checkpoint: str = "best") -> Path:
        """The file predict loads a fold from."""
        raise NotImplementedError

    def predict_test(self, prediction, fold: int, tta: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """(test row index, predictions in the competition's scale) of one saved fold."""
        raise NotImplementedError


def fold_trainer_for(model_class: type) -> FoldTrainer:
    """The fold trainer a model family names."""
    from competitions.pipeline.factory import import_string

    try:
        name = model_class.fold_trainer
    except AttributeError:
        name = None
    if name not in IMPLEMENTATIONS:
        raise CompeteError(f"{model_class.__module__}.{model_class.__name__}: not a compete model family (its "
                           f"`fold_trainer` is {name!r}; subclass lightning_modules.base.CompeteModule or "
                           "estimators.base.TabularEstimator)")  # fmt: skip
    return import_string(IMPLEMENTATIONS[name])()
