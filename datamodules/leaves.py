"""classify-leaves in Kaggle's layout: images/<n>.jpg, train.csv (image,label), test.csv (image)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from competitions.catalog.classify_leaves import CLASSIFY_LEAVES
from competitions.core.console import warn
from competitions.core.errors import DataError
from datamodules.images import ImageClassificationDataModule


class LeavesDataModule(ImageClassificationDataModule):
    """The recipe's settings (224 px, random resized crops, both flips) are in the YAML presets."""

    spec = CLASSIFY_LEAVES

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        """The species named in train.csv, sorted (the competition publishes no list)."""
        labels = self.read_csv("train.csv", ["image", "label"])["label"]
        empty = (labels.str.strip() == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise DataError(f"{self.data_dir / 'train.csv'} line {row + 2}: empty label")
        padded = (labels != labels.str.strip()).to_numpy()
        if padded.any():
            row = int(np.flatnonzero(padded)[0])
            twin = labels.iloc[row].strip()
            also = f"; {twin!r} is a label too, so they are two classes" if (labels == twin).any() else ""
            warn(f"{self.data_dir / 'train.csv'} line {row + 2}: label {labels.iloc[row]!r} has leading or trailing "
                 f"spaces ({int(padded.sum())} such rows){also}; kept as written, fix the file if that is a typo")  # fmt: skip
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
