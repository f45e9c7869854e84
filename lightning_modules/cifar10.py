"""The cifar-10 LightningModule: the shared image classifier with all three mixins."""

from __future__ import annotations

from lightning_modules.ema import EMAMixin
from lightning_modules.finetuning import FineTuningMixin
from lightning_modules.image_classifier import ImageClassifier
from lightning_modules.mixup import MixupMixin
from lightning_modules.tta import TTAMixin


class Cifar10Classifier(EMAMixin, FineTuningMixin, MixupMixin, TTAMixin, ImageClassifier):
    """A timm backbone, fine-tuned or from scratch, with mixup/CutMix, test-time augmentation and a weight average."""
