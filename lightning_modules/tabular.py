"""MLPs on tabular features: a regressor and a classifier.

The regressor learns the standardised log price (house prices: the metric is the RMSE of log price,
so ``val/rmse_log`` is exactly the competition metric on the fold's validation rows; predictions are
prices again) or, with ``log_target`` off, the standardised target itself (``val/rmse``). The
classifier learns the class index with cross-entropy and predicts class probabilities.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanSquaredError

from lightning_modules.base import CompeteModule
from lightning_modules.optim import OptimizerName, SchedulerName, configure_optimization, param_groups

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}


def mlp(num_features: int, hidden: int, depth: int, dropout: float, activation: str, batch_norm: bool) -> nn.Sequential:
    """``depth`` hidden layers of ``hidden`` units (each: Linear, [BatchNorm], activation, Dropout), then one output."""
    layers: list[nn.Module] = []
    width = num_features
    for _ in range(depth):
        layers.append(nn.Linear(width, hidden))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers += [ACTIVATIONS[activation](), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class TabularMLP(CompeteModule):
    """What the two MLPs share: the optimiser and schedule from their hyper-parameters."""

    def configure_optimizers(self):
        hp = self.hparams
        groups = param_groups(self, hp.weight_decay)
        return configure_optimization(
            self, groups, hp.optimizer, hp.lr, hp.scheduler, hp.warmup_epochs, hp.min_lr_ratio, nesterov=False
        )


class MLPRegressor(TabularMLP):
    def __init__(
        self,
        num_features: int = 1,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        log_target: bool = True,
        hidden: int = 256,
        depth: int = 2,
        dropout: float = 0.1,
        activation: Literal["relu", "silu", "gelu"] = "silu",
        batch_norm: bool = False,
        loss: Literal["mse", "huber"] = "mse",
        optimizer: OptimizerName = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        scheduler: SchedulerName = "cosine",
        warmup_epochs: float = 0.0,
        min_lr_ratio: float = 0.0,
    ) -> None:
        """
        Args:
            num_features: set from the fold's preprocessed features.
            target_mean: set from the fold: mean of the training rows' log price.
            target_std: set from the fold: std of the training rows' log price.
            log_target: set from the competition: the network learns the log of the target (prices).
            hidden: units per hidden layer.
            depth: hidden layers (0 = a linear model on the features).
            dropout: dropout after each hidden layer.
            activation: relu, silu or gelu.
            batch_norm: BatchNorm after each hidden linear layer.
            loss: mse on the standardised log price (the metric's square), or huber (robust to outliers).
            optimizer: adamw or sgd.
            lr: peak learning rate.
            weight_decay: decoupled weight decay on weights (not biases).
            scheduler: cosine (with warm-up), onecycle or constant.
            warmup_epochs: linear warm-up in epochs.
            min_lr_ratio: final LR of the cosine schedule as a fraction of lr.
        """
        super().__init__()
        self.save_hyperparameters()
        self.net = mlp(num_features, hidden, depth, dropout, activation, batch_norm)
        self.val_rmse = MeanSquaredError(squared=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised log price, shape [batch]."""
        return self.net(x).squeeze(-1)

    def log_price(self, x: torch.Tensor) -> torch.Tensor:
        return self(x) * self.hparams.target_std + self.hparams.target_mean

    def _loss(self, x: torch.Tensor, log_target: torch.Tensor) -> torch.Tensor:
        standard = (log_target - self.hparams.target_mean) / self.hparams.target_std
        if self.hparams.loss == "huber":
            return F.huber_loss(self(x), standard, delta=1.0)
        return F.mse_loss(self(x), standard)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch["x"], batch["target"])
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.val_rmse(self.log_price(batch["x"]), batch["target"])
        self.log("val/rmse_log" if self.hparams.log_target else "val/rmse", self.val_rmse, on_epoch=True, prog_bar=True)

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        value = self.log_price(batch["x"]).double()
        return {"index": batch["index"], "value": torch.exp(value) if self.hparams.log_target else value}


class MLPClassifier(TabularMLP):
    """An MLP on the preprocessed features, trained with cross-entropy; predicts class probabilities."""

    def __init__(
        self,
        num_features: int = 1,
        num_classes: int = 2,
        class_names: list[str] | None = None,
        hidden: int = 256,
        depth: int = 2,
        dropout: float = 0.1,
        activation: Literal["relu", "silu", "gelu"] = "silu",
        batch_norm: bool = False,
        label_smoothing: float = 0.0,
        optimizer: OptimizerName = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        scheduler: SchedulerName = "cosine",
        warmup_epochs: float = 0.0,
        min_lr_ratio: float = 0.0,
    ) -> None:
        """
        Args:
            num_features: set from the fold's preprocessed features.
            num_classes: set from the data.
            class_names: set from the data (checked again at predict).
            hidden: units per hidden layer.
            depth: hidden layers (0 = logistic regression on the features).
            dropout: dropout after each hidden layer.
            activation: relu, silu or gelu.
            batch_norm: BatchNorm after each hidden linear layer.
            label_smoothing: cross-entropy label smoothing.
            optimizer: adamw or sgd.
            lr: peak learning rate.
            weight_decay: decoupled weight decay on weights (not biases).
            scheduler: cosine (with warm-up), onecycle or constant.
            warmup_epochs: linear warm-up in epochs.
            min_lr_ratio: final LR of the cosine schedule as a fraction of lr.
        """
        super().__init__()
        self.save_hyperparameters()
        self.net = mlp(num_features, hidden, depth, dropout, activation, batch_norm)
        self.net[-1] = nn.Linear(self.net[-1].in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape [batch, classes]."""
        return self.net(x)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self(batch["x"]), batch["target"], label_smoothing=self.hparams.label_smoothing)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["x"])
        self.log("val/loss", F.cross_entropy(logits, batch["target"]), on_epoch=True, prog_bar=True, sync_dist=True)
        accuracy = (logits.argmax(dim=1) == batch["target"]).float().mean()
        self.log("val/acc", accuracy, on_epoch=True, prog_bar=True, sync_dist=True)

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        return {"index": batch["index"], "probs": torch.softmax(self(batch["x"]).float(), dim=1)}
