"""Batch-level mixup and CutMix for any ImageClassifier, wrapping timm's well-kept ``Mixup``.

Owns two hooks: ``mix_batch`` (images -> mixed images + soft targets) and ``train_loss``
(soft-target cross-entropy while mixing is on). Switched off for the last ``mixup_off_epochs``
epochs through timm's own ``mixup_enabled`` switch, and never active outside training.
"""

from __future__ import annotations

import torch
from timm.data import Mixup
from timm.data.mixup import mixup_target
from timm.loss import SoftTargetCrossEntropy


class MixupMixin:
    def __init__(
        self,
        *args,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0,
        mix_switch_prob: float = 0.5,
        mixup_off_epochs: int = 0,
        mixup_start: float = 0.0,
        **kwargs,
    ) -> None:
        """
        Args:
            mixup_alpha: Beta(alpha, alpha) for mixup; 0 turns mixup off (0.2-0.4 is typical).
            cutmix_alpha: Beta(alpha, alpha) for CutMix; 0 turns CutMix off (1.0 is typical).
            mix_prob: probability that a batch is mixed at all.
            mix_switch_prob: with both on, the probability of CutMix rather than mixup for a batch.
            mixup_off_epochs: train the last N epochs on clean images.
            mixup_start: start mixing after this fraction of the epochs (e.g. 0.2): a short schedule first
                learns from clean images. 0: from the first step.
        """
        super().__init__(*args, **kwargs)
        self.mixup_fn: Mixup | None = None
        if mixup_alpha > 0 or cutmix_alpha > 0:
            self.mixup_fn = Mixup(
                mixup_alpha=mixup_alpha,
                cutmix_alpha=cutmix_alpha,
                prob=mix_prob,
                switch_prob=mix_switch_prob,
                mode="batch",
                label_smoothing=self.hparams.label_smoothing,
                num_classes=self.hparams.num_classes,
                multi_label=bool(self.hparams.get("multi_label")),  # multi-hot targets mixed as they are
            )
        self.soft_target_loss = SoftTargetCrossEntropy()

    def mixup_active(self) -> bool:
        if self.mixup_fn is None or not self.training:
            return False
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        if max_epochs is not None and max_epochs > 0:
            first = int(round(self.hparams.mixup_start * max_epochs))
            self.mixup_fn.mixup_enabled = first <= self.current_epoch < max_epochs - self.hparams.mixup_off_epochs
        return bool(self.mixup_fn.mixup_enabled)

    def mix_batch(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.mixup_active():
            return super().mix_batch(images, target)
        # timm pairs image i with image n-1-i and needs an even batch: an odd last image stays clean.
        even = len(images) - len(images) % 2
        if even < 2:
            return super().mix_batch(images, target)
        mixed, soft = self.mixup_fn(images[:even].clone(), target[:even])
        if even < len(images):
            clean = mixup_target(target[even:], self.hparams.num_classes, 1.0, self.hparams.label_smoothing,
                                 bool(self.hparams.get("multi_label")))  # fmt: skip
            mixed = torch.cat([mixed, images[even:]])
            soft = torch.cat([soft, clean.to(soft)])
        return mixed, soft

    def train_loss(self, logits: torch.Tensor, target: torch.Tensor, soft_target: torch.Tensor | None) -> torch.Tensor:
        if soft_target is None or self.hparams.get("multi_label"):  # multi-label: binary cross-entropy
            return super().train_loss(logits, target, soft_target)
        return self.soft_target_loss(logits, soft_target)
