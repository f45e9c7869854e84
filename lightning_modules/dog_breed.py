"""The dog-breed-identification LightningModule: the shared image classifier with all three mixins."""

from __future__ import annotations

from lightning_modules.ema import EMAMixin
from lightning_modules.finetuning import FineTuningMixin
from lightning_modules.image_classifier import ImageClassifier
from lightning_modules.mixup import MixupMixin
from lightning_modules.tta import TTAMixin


class DogBreedClassifier(EMAMixin, FineTuningMixin, MixupMixin, TTAMixin, ImageClassifier):
    """A pretrained timm backbone fine-tuned with the shared mixins; its defaults are in the YAML presets."""
