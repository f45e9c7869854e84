"""The LightningModule of competitions described by a spec file (compete init): the shared image
classifier with every mixin (fine-tuning, mixup/CutMix, TTA, weight averaging)."""

from __future__ import annotations

from lightning_modules.ema import EMAMixin
from lightning_modules.finetuning import FineTuningMixin
from lightning_modules.image_classifier import ImageClassifier
from lightning_modules.mixup import MixupMixin
from lightning_modules.tta import TTAMixin


class ImageModel(EMAMixin, FineTuningMixin, MixupMixin, TTAMixin, ImageClassifier):
    """A timm backbone, fine-tuned or from scratch; its recipe is the shape's preset."""
