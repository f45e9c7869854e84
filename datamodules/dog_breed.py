"""dog-breed-identification in Kaggle's layout: labels.csv (id,breed), train/<id>.jpg, test/<id>.jpg.

The photos come in many sizes: the decoded cache keeps each one's aspect ratio (shorter side to
``cache_size``, centre crop), and training takes random resized crops of it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pandas as pd

from competitions.dog_breed import DOG_BREED
from datamodules.images import IMAGENET_MEAN, IMAGENET_STD, ImageClassificationDataModule


class DogBreedDataModule(ImageClassificationDataModule):
    spec = DOG_BREED

    def __init__(
        self,
        data_dir: str = "data/dog-breed-identification",
        batch_size: int = 64,
        num_workers: int = 4,
        image_size: int = 224,
        crop_padding: int = 0,
        hflip: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        cache_dir: str | None = None,
        decode_workers: int | None = None,
        cache_size: int | None = 256,
        resize: str = "crop",
        crop_scale: float | None = 0.35,
        vflip: bool = False,
    ) -> None:
        super().__init__(
            data_dir, batch_size, num_workers, image_size, crop_padding, hflip, mean, std, cache_dir,
            decode_workers, cache_size, resize, crop_scale, vflip,
        )  # fmt: skip

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self.read_csv("labels.csv", ["id", "breed"])
        frame["label"] = frame["breed"]
        frame["target"] = self.encode_labels(frame, "breed", "labels.csv")
        frame["path"] = [str(self.data_dir / "train" / f"{i}.jpg") for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), "labels.csv", "id")
        return frame

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        """The test ids in sample_submission.csv's order (the submission's rows)."""
        frame = self.read_csv("sample_submission.csv", ["id"])[["id"]]
        frame["path"] = [str(self.data_dir / "test" / f"{i}.jpg") for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), "sample_submission.csv", "id")
        return frame
