"""cifar-10 in Kaggle's layout: train/<id>.png + trainLabels.csv, test/<id>.png + sampleSubmission.csv."""

from __future__ import annotations

import functools

import pandas as pd

from competitions.cifar10 import CIFAR10
from datamodules.images import ImageClassificationDataModule

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Cifar10DataModule(ImageClassificationDataModule):
    spec = CIFAR10

    def __init__(
        self,
        data_dir: str = "data/cifar-10",
        batch_size: int = 128,
        num_workers: int = 2,
        image_size: int = 32,
        crop_padding: int = 4,
        hflip: bool = True,
        mean: tuple[float, float, float] = CIFAR10_MEAN,
        std: tuple[float, float, float] = CIFAR10_STD,
        cache_dir: str | None = None,
        decode_workers: int | None = None,
    ) -> None:
        super().__init__(
            data_dir, batch_size, num_workers, image_size, crop_padding, hflip, mean, std, cache_dir, decode_workers
        )

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self.read_csv("trainLabels.csv", ["id", "label"])
        frame["target"] = self.encode_labels(frame, "label", "trainLabels.csv")
        frame["path"] = [str(self.data_dir / "train" / f"{i}.png") for i in frame["id"]]
        return frame

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        frame = self.read_csv("sampleSubmission.csv", ["id", "label"])[["id"]]
        frame["path"] = [str(self.data_dir / "test" / f"{i}.png") for i in frame["id"]]
        return frame
