"""classify-leaves in Kaggle's layout: images/<n>.jpg, train.csv (image,label), test.csv (image)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from competitions.classify_leaves import CLASSIFY_LEAVES
from competitions.errors import DataError
from datamodules.images import IMAGENET_MEAN, IMAGENET_STD, ImageClassificationDataModule


class LeavesDataModule(ImageClassificationDataModule):
    spec = CLASSIFY_LEAVES

    def __init__(
        self,
        data_dir: str = "data/classify-leaves",
        batch_size: int = 64,
        num_workers: int = 4,
        image_size: int = 224,
        crop_padding: int = 0,
        hflip: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        cache_dir: str | None = None,
        decode_workers: int | None = None,
        cache_size: int | None = None,
        resize: str = "squash",
        crop_scale: float | None = 0.5,
        vflip: bool = True,
    ) -> None:
        super().__init__(
            data_dir, batch_size, num_workers, image_size, crop_padding, hflip, mean, std, cache_dir,
            decode_workers, cache_size, resize, crop_scale, vflip,
        )  # fmt: skip

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        """The species named in train.csv, sorted (the competition publishes no list)."""
        labels = self.read_csv("train.csv", ["image", "label"])["label"]
        empty = (labels.str.strip() == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise DataError(f"{self.data_dir / 'train.csv'} line {row + 2}: empty label")
        return tuple(sorted(labels.unique()))

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self.read_csv("train.csv", ["image", "label"])
        frame["id"] = frame["image"]
        frame["target"] = self.encode_labels(frame, "label", "train.csv")
        frame["path"] = [str(self.data_dir / name) for name in frame["image"]]
        self.check_images(frame, frame["path"].tolist(), "train.csv", "image")
        return frame

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        frame = self.read_csv("test.csv", ["image"])[["image"]]
        frame["id"] = frame["image"]
        frame["path"] = [str(self.data_dir / name) for name in frame["image"]]
        self.check_images(frame, frame["path"].tolist(), "test.csv", "image")
        return frame
