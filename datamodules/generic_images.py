"""Image competitions described by a spec file (compete init), in either of two Kaggle layouts:

    images_csv        a CSV of ids and labels, one image file per id (``train_images``: "train/{id}.png");
                      the test ids are the sample submission's, their images at ``test_images``
    images_by_folder  train/<class>/<file> (plant-seedlings style); test images at ``test_images``

The spec (``spec.options``) says which columns and paths; everything else is the shared image
DataModule (cache, folds, augmentation on the loader or the device).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

from competitions.core.errors import DataError
from datamodules.images import ImageClassificationDataModule

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class SpecImagesDataModule(ImageClassificationDataModule):
    """What both layouts share: classes from the spec or the data, test images from the sample submission."""

    def _path(self, pattern_key: str, image_id: str) -> str:
        return str(self.data_dir / self.spec.options[pattern_key].format(id=image_id))

    def data_classes(self) -> list[str]:
        raise NotImplementedError

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.spec.classes) if self.spec.classes else tuple(sorted(self.data_classes()))

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        spec = self.spec
        frame = self.read_csv(spec.sample_submission, [spec.id_column])[[spec.id_column]]
        frame["id"] = frame[spec.id_column]
        frame["path"] = [self._path("test_images", i) for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), spec.sample_submission, spec.id_column)
        return frame


class ImagesCsvDataModule(SpecImagesDataModule):
    """A labels CSV (``spec.train_csv``: id and label columns) and one image per id."""

    def _labels(self) -> pd.DataFrame:
        spec = self.spec
        return self.read_csv(spec.train_csv, [spec.id_column, spec.target_column])

    def data_classes(self) -> list[str]:
        labels = self._labels()[self.spec.target_column]
        empty = (labels.str.strip() == "").to_numpy()
        if empty.any():
            raise DataError(f"{self.data_dir / self.spec.train_csv} line {int(np.flatnonzero(empty)[0]) + 2}: empty label")
        return list(labels.unique())

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        spec = self.spec
        frame = self._labels()
        frame["id"] = frame[spec.id_column]
        frame["label"] = frame[spec.target_column]
        frame["target"] = self.encode_labels(frame, spec.target_column, spec.train_csv)
        frame["path"] = [self._path("train_images", i) for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), spec.train_csv, spec.id_column)
        return frame


class ImagesByFolderDataModule(SpecImagesDataModule):
    """train/<class>/<image>: the folder is the label; ids are "<class>/<file>"."""

    def _files(self) -> list[tuple[str, str]]:
        root = self.data_dir / "train"
        found = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for name in sorted(os.listdir(folder)):
                if name.lower().endswith(IMAGE_SUFFIXES):
                    found.append((folder.name, name))
        if not found:
            raise DataError(f"{root}: no images in class folders (expected train/<class>/<image>)")
        return found

    def data_classes(self) -> list[str]:
        return sorted({label for label, _ in self._files()})

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        files = self._files()
        frame = pd.DataFrame({"id": [f"{label}/{name}" for label, name in files], "label": [label for label, _ in files]})
        source = "train/"
        frame["target"] = self.encode_labels(frame, "label", source)
        frame["path"] = [str(self.data_dir / "train" / i) for i in frame["id"]]
        return frame
