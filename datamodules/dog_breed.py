"""dog-breed-identification in Kaggle's layout: labels.csv (id,breed), train/<id>.jpg, test/<id>.jpg.

The photos come in many sizes: the decoded cache keeps each one's aspect ratio (shorter side to
``cache_size``, centre crop), and training takes random resized crops of it.
"""

from __future__ import annotations

import functools

import pandas as pd

from competitions.catalog.dog_breed import DOG_BREED
from datamodules.images import ImageClassificationDataModule


class DogBreedDataModule(ImageClassificationDataModule):
    """The recipe's settings (cache_size 256, resize crop, 224 px crops) are in the YAML presets."""

    spec = DOG_BREED

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
