"""albumentations pipelines for image competitions (uint8 HWC in, normalised CHW tensor out)."""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2


def train_transform(
    image_size: int,
    crop_padding: int = 4,
    hflip: bool = True,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
    crop_scale: float | None = None,
    vflip: bool = False,
) -> A.Compose:
    """Pad-and-random-crop (small images) or a random resized crop covering ``crop_scale``..1 of
    the image (photos), plus optional flips."""
    steps: list[A.BasicTransform]
    if crop_scale is not None:
        steps = [A.RandomResizedCrop((image_size, image_size), scale=(crop_scale, 1.0), ratio=(3 / 4, 4 / 3))]
    else:
        steps = [A.Resize(image_size, image_size)]
    if crop_scale is None and crop_padding > 0:
        padded = image_size + 2 * crop_padding
        steps += [
            A.PadIfNeeded(padded, padded, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(image_size, image_size),
        ]
    if hflip:
        steps.append(A.HorizontalFlip(p=0.5))
    if vflip:
        steps.append(A.VerticalFlip(p=0.5))
    steps += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(steps)


def eval_transform(
    image_size: int,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
) -> A.Compose:
    return A.Compose(
        [
            A.Resize(image_size, image_size),
            A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0),
            ToTensorV2(),
        ]
    )
