"""cifar-10 in Kaggle's layout: train/<id>.png + trainLabels.csv, test/<id>.png + sampleSubmission.csv."""

from __future__ import annotations

import functools
from typing import Literal

import pandas as pd

from competitions.catalog.cifar10 import CIFAR10
from datamodules.images import ImageClassificationDataModule

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Cifar10DataModule(ImageClassificationDataModule):
    spec = CIFAR10
    default_mean = CIFAR10_MEAN
    default_std = CIFAR10_STD

    def __init__(
        self,
        data_dir: str = "data/cifar-10",
        batch_size: int = 128,
        num_workers: int = 2,
        image_size: int | None = None,
        crop_padding: int = 4,
        hflip: bool = True,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        cache_dir: str | None = None,
        decode_workers: int | None = None,
        augment_on: Literal["loader", "device"] = "loader",
    ) -> None:
        """
        Args:
            data_dir: the competition folder, as Kaggle ships it.
            batch_size: samples per batch and per process.
            num_workers: DataLoader worker processes per training process.
            image_size: side of the square images fed to the model (default: 32, or a pretrained backbone's).
            crop_padding: pixels of reflection padding before the random crop (0 = no crop).
            hflip: random horizontal flips in training.
            mean: per-channel normalisation mean, 0-1 scale (default: a pretrained backbone's, else CIFAR-10's).
            std: per-channel normalisation std, 0-1 scale (default: a pretrained backbone's, else CIFAR-10's).
            cache_dir: where decoded images are cached (compete sets <runs-dir>/cifar-10/cache).
            decode_workers: processes used to decode images into the cache (default: up to 8).
            augment_on: loader (albumentations per image in workers) or device (the cache on the training device,
                pad-crop-flip-normalise on whole batches there; see datamodules/batched.py).
        """
        super().__init__(
            data_dir, batch_size, num_workers, image_size, crop_padding, hflip, mean, std, cache_dir, decode_workers,
            augment_on=augment_on,
        )

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self.read_csv("trainLabels.csv", ["id", "label"])
        frame["target"] = self.encode_labels(frame, "label", "trainLabels.csv")
        frame["path"] = [str(self.data_dir / "train" / f"{i}.png") for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), "trainLabels.csv", "id")
        return frame

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        frame = self.read_csv("sampleSubmission.csv", ["id", "label"])[["id"]]
        frame["path"] = [str(self.data_dir / "test" / f"{i}.png") for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), "sampleSubmission.csv", "id")
        return frame
