"""TabM (Gorishniy et al., 2025: "TabM: Advancing tabular deep learning with parameter-efficient
ensembling") on the preprocessed features: k MLPs that share most of their weights (BatchEnsemble),
each trained on every batch with its own loss, their predictions averaged. The published defaults
(k=32, 3 blocks of 512, dropout 0.1, AdamW lr 2e-3, weight decay 3e-4) are this family's; the model is
the `tabm` package's. A regressor (standardised log price, as the MLP) and a classifier.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from lightning_modules.optim import OptimizerName, SchedulerName
from lightning_modules.tabular import MLPClassifier, MLPRegressor


def tabm_net(num_features: int, d_out: int, k: int, d_block: int, n_blocks: int, dropout: float, arch_type: str):
    from tabm import TabM

    return TabM.make(n_num_features=num_features, d_out=d_out, k=k, d_block=d_block, n_blocks=n_blocks,
                     dropout=dropout, arch_type=arch_type)  # fmt: skip


class TabMRegressor(MLPRegressor):
    """TabM on the standardised log price (or the target): each of the k heads learns it (MSE); predicts
    their mean."""
    budget_weight = 2.0  # k=32 members per network: the slowest family

    def __init__(
        self,
        num_features: int = 1,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        log_target: bool = True,
        k: int = 32,
        d_block: int = 512,
        n_blocks: int = 3,
        dropout: float = 0.1,
        arch_type: Literal["tabm", "tabm-mini", "tabm-packed"] = "tabm",
        loss: Literal["mse", "huber"] = "mse",
        optimizer: OptimizerName = "adamw",
        lr: float = 2e-3,
        weight_decay: float = 3e-4,
        scheduler: SchedulerName = "constant",
        warmup_epochs: float = 0.0,
        min_lr_ratio: float = 0.0,
    ) -> None:
        """
        Args:
            num_features: set from the fold's preprocessed features.
            target_mean: set from the fold: mean of the training rows' log price.
            target_std: set from the fold: std of the training rows' log price.
            log_target: set from the competition: the network learns the log of the target (prices).
            k: the number of ensembled MLPs.
            d_block: units per block.
            n_blocks: blocks (linear, ReLU, dropout) per MLP.
            dropout: dropout after each block.
            arch_type: tabm (BatchEnsemble in every layer), tabm-mini (only the first) or tabm-packed (k MLPs).
            loss: mse on the standardised log price (per head), or huber.
            optimizer: adamw or sgd.
            lr: peak learning rate.
            weight_decay: decoupled weight decay on weights (not biases).
            scheduler: constant (the paper's), cosine (with warm-up) or onecycle.
            warmup_epochs: linear warm-up in epochs.
            min_lr_ratio: final LR of the cosine schedule as a fraction of lr.
        """
        super().__init__(num_features=num_features, target_mean=target_mean, target_std=target_std,
                         log_target=log_target, depth=0, loss=loss, optimizer=optimizer, lr=lr,
                         weight_decay=weight_decay, scheduler=scheduler, warmup_epochs=warmup_epochs,
                         min_lr_ratio=min_lr_ratio)  # fmt: skip
        self.save_hyperparameters()
        self.net = tabm_net(num_features, 1, k, d_block, n_blocks, dropout, arch_type)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """Every head's standardised prediction, shape [batch, k]."""
        return self.net(x).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(x).mean(dim=1)

    def _loss(self, x: torch.Tensor, log_target: torch.Tensor) -> torch.Tensor:
        standard = ((log_target - self.hparams.target_mean) / self.hparams.target_std).unsqueeze(1)
        heads = self.heads(x)
        standard = standard.expand_as(heads)
        if self.hparams.loss == "huber":
            return F.huber_loss(heads, standard, delta=1.0)
        return F.mse_loss(heads, standard)


class TabMClassifier(MLPClassifier):
    """TabM on class indices: each head learns with cross-entropy; predicts the mean of their probabilities."""
    budget_weight = 2.0

    def __init__(
        self,
        num_features: int = 1,
        num_classes: int = 2,
        class_names: list[str] | None = None,
        k: int = 32,
        d_block: int = 512,
        n_blocks: int = 3,
        dropout: float = 0.1,
        arch_type: Literal["tabm", "tabm-mini", "tabm-packed"] = "tabm",
        label_smoothing: float = 0.0,
        optimizer: OptimizerName = "adamw",
        lr: float = 2e-3,
        weight_decay: float = 3e-4,
        scheduler: SchedulerName = "constant",
        warmup_epochs: float = 0.0,
        min_lr_ratio: float = 0.0,
    ) -> None:
        """
        Args:
            num_features: set from the fold's preprocessed features.
            num_classes: set from the data.
            class_names: set from the data (checked again at predict).
            k: the number of ensembled MLPs.
            d_block: units per block.
            n_blocks: blocks (linear, ReLU, dropout) per MLP.
            dropout: dropout after each block.
            arch_type: tabm (BatchEnsemble in every layer), tabm-mini (only the first) or tabm-packed (k MLPs).
            label_smoothing: cross-entropy label smoothing.
            optimizer: adamw or sgd.
            lr: peak learning rate.
            weight_decay: decoupled weight decay on weights (not biases).
            scheduler: constant (the paper's), cosine (with warm-up) or onecycle.
            warmup_epochs: linear warm-up in epochs.
            min_lr_ratio: final LR of the cosine schedule as a fraction of lr.
        """
        super().__init__(num_features=num_features, num_classes=num_classes, class_names=class_names, depth=0,
                         label_smoothing=label_smoothing, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                         scheduler=scheduler, warmup_epochs=warmup_epochs, min_lr_ratio=min_lr_ratio)  # fmt: skip
        self.save_hyperparameters()
        self.net = tabm_net(num_features, num_classes, k, d_block, n_blocks, dropout, arch_type)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the heads' mean probabilities, shape [batch, classes] (what validation and predict use)."""
        return torch.log(torch.softmax(self.net(x).float(), dim=-1).mean(dim=1).clamp_min(1e-12))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self.net(batch["x"])  # [batch, k, classes]: every head learns every row
        target = batch["target"].unsqueeze(1).expand(-1, logits.shape[1]).reshape(-1)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target, label_smoothing=self.hparams.label_smoothing)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss
