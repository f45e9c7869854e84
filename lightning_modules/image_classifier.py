"""Image classification on any timm backbone. ``forward`` returns logits; softmax only in predict
(sigmoid for a multi-label task: each class on its own, binary cross-entropy on multi-hot targets)."""

from __future__ import annotations

from typing import Literal

import timm
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

import lightning_modules.small_nets  # noqa: F401 - registers resnet9 and resnet9_narrow with timm
from lightning_modules.base import CompeteModule
from lightning_modules.optim import OptimizerName, SchedulerName, configure_optimization, param_groups


def adapt_stem_to_small_inputs(model: nn.Module) -> None:
    """Give a ResNet-style model a 3x3 stride-1 stem without max-pool (the CIFAR ResNet stem).

    ImageNet stems shrink a 32x32 image to 8x8 before the first block; this keeps 32x32.
    """
    conv = getattr(model, "conv1", None)
    if not isinstance(conv, nn.Conv2d) or not hasattr(model, "maxpool"):
        raise ValueError(
            f"small_input_stem works with ResNet-style timm models (conv1 + maxpool); "
            f"{type(model).__name__} has none: use a larger data.image_size instead"
        )
    model.conv1 = nn.Conv2d(conv.in_channels, conv.out_channels, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()


class ImageClassifier(CompeteModule):
    def __init__(
        self,
        num_classes: int = 10,
        backbone: str = "resnet18",
        small_input_stem: bool = True,
        drop_rate: float = 0.0,
        optimizer: OptimizerName = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 5e-4,
        scheduler: SchedulerName = "cosine",
        warmup_epochs: float = 1.0,
        min_lr_ratio: float = 0.0,
        label_smoothing: float = 0.0,
        scale_lr: Literal["none", "linear"] = "none",
        channels_last: bool = False,
        compile: bool = False,
        compile_backend: str = "inductor",
        class_names: list[str] | None = None,
        multi_label: bool = False,
    ) -> None:
        """
        Args:
            num_classes: set from the competition.
            backbone: any timm model name (timm.list_models()).
            small_input_stem: replace a ResNet's ImageNet stem with a 3x3 stride-1 one for 32x32 inputs.
            drop_rate: dropout before the classifier.
            optimizer: sgd (with momentum, Nesterov by default) or adamw.
            lr: peak learning rate (per process; see scale_lr).
            momentum: SGD momentum.
            nesterov: Nesterov momentum for SGD.
            weight_decay: L2 on weights (not on biases or norm layers).
            scheduler: cosine (with linear warm-up), onecycle, or constant (after warm-up).
            warmup_epochs: warm-up length in epochs (fractions allowed).
            min_lr_ratio: final LR of the cosine schedule as a fraction of lr.
            label_smoothing: cross-entropy label smoothing.
            scale_lr: "linear" multiplies lr by the number of processes (the linear scaling rule).
            channels_last: keep weights and batches in channels-last memory order (faster convolutions on
                GPUs with tensor cores, above all under mixed precision).
            compile: run the network through torch.compile (slower first steps, faster later ones; the
                checkpoint keeps the plain network's weights).
            compile_backend: torch.compile's backend (inductor; eager only checks that compiling works).
            class_names: set from the competition; stored in the checkpoint.
            multi_label: set from the competition: several classes per image (sigmoid, binary cross-entropy).
        """
        super().__init__()
        self.save_hyperparameters()
        self.model = timm.create_model(backbone, pretrained=False, num_classes=num_classes, drop_rate=drop_rate)
        if small_input_stem:
            adapt_stem_to_small_inputs(self.model)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.train_loss_mean = MeanMetric()
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")

    @classmethod
    def checkpoint_overrides(cls) -> dict:
        # Predicting: no torch.compile (it would compile again for every fold's model, for one pass over
        # the test set, in time no budget counted).
        return {**super().checkpoint_overrides(), "compile": False}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.network()(images)

    def network(self):
        """The network, or its torch.compile'd form (made once, kept outside the module's state_dict)."""
        if not self.hparams.compile:
            return self.model
        if self.__dict__.get("_compiled") is None:
            self.__dict__["_compiled"] = torch.compile(self.model, backend=self.hparams.compile_backend)
        return self.__dict__["_compiled"]

    # ---- hooks the mixins extend (each mixin owns distinct hooks and calls through) ------
    def mix_batch(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the training images and, when they were mixed, soft targets (else None)."""
        return images, None

    def train_loss(self, logits: torch.Tensor, target: torch.Tensor, soft_target: torch.Tensor | None) -> torch.Tensor:
        if self.hparams.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), soft_target if soft_target is not None else target)
        return F.cross_entropy(logits, target, label_smoothing=self.hparams.label_smoothing)

    def optimizer_param_groups(self) -> list[dict]:
        """Parameter groups; a group may carry ``lr_scale`` (its LR = peak LR x lr_scale)."""
        return param_groups(self, self.hparams.weight_decay)

    def predict_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.multi_label:
            return torch.sigmoid(self(images).float())
        return torch.softmax(self(images).float(), dim=1)

    # ---- steps -----------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        target = batch["target"]
        images, soft_target = self.mix_batch(batch["image"], target)
        logits = self(images)
        loss = self.train_loss(logits, target, soft_target)
        # Each step's loss as this process has it (no all-reduce and host sync per step under DDP); the
        # epoch's mean is a metric, reduced over the processes once, at the epoch's end.
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        self.train_loss_mean(loss.detach())
        self.log("train/loss_epoch", self.train_loss_mean, on_step=False, on_epoch=True)
        if not self.hparams.multi_label:
            # With mixed images, accuracy is measured against each image's dominant label.
            self.train_acc(logits, soft_target.argmax(dim=1) if soft_target is not None else target)
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"])
        if self.hparams.multi_label:
            loss = F.binary_cross_entropy_with_logits(logits.float(), batch["target"])
            self.log("val/loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)
            return
        loss = F.cross_entropy(logits, batch["target"])
        self.val_acc(logits, batch["target"])
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        return {"index": batch["index"], "probs": self.predict_probabilities(batch["image"])}

    def effective_lr(self) -> float:
        """The peak LR after the linear scaling rule (never written back into hparams)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return self.hparams.lr * (world if self.hparams.scale_lr == "linear" else 1)

    def configure_optimizers(self):
        hp = self.hparams
        return configure_optimization(
            self,
            self.optimizer_param_groups(),
            hp.optimizer,
            self.effective_lr(),
            hp.scheduler,
            hp.warmup_epochs,
            hp.min_lr_ratio,
            hp.momentum,
            hp.nesterov,
        )
