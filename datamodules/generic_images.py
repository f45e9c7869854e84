"""Image competitions described by a spec file (compete init), in these Kaggle layouts:

    images_csv        a CSV of ids and labels, one image file per id (``train_images``: "train/{id}.png");
                      the test ids are the sample submission's, their images at ``test_images``; a
                      multi-label spec (submission: labels) reads space-separated label sets
    images_by_folder  train/<class>/<file> (plant-seedlings style); test images at ``test_images``

The spec (``spec.options``) says which columns and paths; everything else is the shared image
DataModule (cache, folds, augmentation on the loader or the device).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from competitions.core.artifacts import atomic_path
from competitions.core.console import warn
from competitions.core.errors import DataError
from competitions.core.spec import check_class_count
from datamodules.images import ImageClassificationDataModule

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class SpecImagesDataModule(ImageClassificationDataModule):
    """What both layouts share: classes from the spec or the data, test images from the sample submission."""

    def _path(self, pattern_key: str, image_id: str) -> str:
        return str(self.data_dir / self.spec.options[pattern_key].format(id=image_id))

    def data_classes(self) -> list[str]:
        raise NotImplementedError

    def labelled_rows(self) -> int:
        """How many training images have a label."""
        raise NotImplementedError

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        if self.spec.classes:
            return tuple(self.spec.classes)
        classes = tuple(sorted(self.data_classes()))
        if len(classes) < 2:
            raise DataError(f"{self.data_dir / self.spec.train_csv}: every training image has the class "
                            f"{classes[0] if classes else ''!r}; a classification needs at least two classes")  # fmt: skip
        check_class_count(len(classes), self.labelled_rows(), str(self.data_dir / self.spec.train_csv),
                          self.spec.options.get("label_column", "the class folder"), self.spec.max_class_share)  # fmt: skip
        return classes

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        """The test ids of ``test_csv`` when the spec names one (classify-leaves' test.csv), else the sample
        submission's, in that file's order."""
        spec = self.spec
        source = spec.options.get("test_csv", spec.sample_submission)
        frame = self.read_csv(source, [spec.id_column])[[spec.id_column]]
        frame["id"] = frame[spec.id_column]
        frame["path"] = [self._path("test_images", i) for i in frame["id"]]
        self.check_images(frame, frame["path"].tolist(), source, spec.id_column)
        return frame


class ImagesCsvDataModule(SpecImagesDataModule):
    """A labels CSV (``spec.train_csv``: id and label columns) and one image per id."""

    def _labels(self) -> pd.DataFrame:
        spec = self.spec
        return self.read_csv(spec.train_csv, [spec.id_column, spec.options["label_column"]])

    def labelled_rows(self) -> int:
        return len(self._labels())

    def data_classes(self) -> list[str]:
        labels = self._labels()[self.spec.options["label_column"]]
        empty = (labels.str.strip() == "").to_numpy()
        if empty.any():
            raise DataError(f"{self.data_dir / self.spec.train_csv} line {int(np.flatnonzero(empty)[0]) + 2}: empty label")
        if self.spec.multi_label:  # "haze primary": every name is a class
            return sorted({name for text in labels for name in text.split()})
        padded = (labels != labels.str.strip()).to_numpy()
        if padded.any():
            row = int(np.flatnonzero(padded)[0])
            twin = labels.iloc[row].strip()
            also = f"; {twin!r} is a label too, so they are two classes" if (labels == twin).any() else ""
            warn(f"{self.data_dir / self.spec.train_csv} line {row + 2}: label {labels.iloc[row]!r} has leading or "
                 f"trailing spaces ({int(padded.sum())} such rows){also}; kept as written, fix the file if that is a "
                 "typo")  # fmt: skip
        return list(labels.unique())

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        spec = self.spec
        frame = self._labels()
        frame["id"] = frame[spec.id_column]
        frame["label"] = frame[spec.options["label_column"]]
        if spec.multi_label:  # the multi-hot rows are ``targets``; ``target`` keeps the first label's index
            first = frame["label"].str.split().str[0].rename("first").to_frame()
            frame["target"] = self.encode_labels(first, "first", spec.train_csv)
        else:
            frame["target"] = self.encode_labels(frame, spec.options["label_column"], spec.train_csv)
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

    def labelled_rows(self) -> int:
        return len(self._files())

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


PIXEL_COLUMN = re.compile(r"^pixel\d+$", re.IGNORECASE)


def pixel_columns(columns) -> list[str]:
    return [c for c in columns if PIXEL_COLUMN.match(str(c))]


class PixelsCsvDataModule(SpecImagesDataModule):
    """Images written as pixel columns (digit-recognizer: train.csv ``label,pixel0..pixel783``, test.csv
    ``pixel0..``; the sample submission's ids number the test rows from 1). The square grey images are
    decoded from the CSV straight into the image cache (as RGB, at ``cache_size``)."""

    default_image_size = 28

    def _read_pixels(self, name: str, columns: list[str]) -> pd.DataFrame:
        frame = self.read_csv(name, columns, unique=False, dtype=str, keep_default_na=False)
        pixels = pixel_columns(frame.columns)
        side = int(round(len(pixels) ** 0.5))
        if not pixels or side * side != len(pixels):
            raise DataError(f"{self.data_dir / name}: {len(pixels)} pixel columns (pixel0, pixel1, ...); a square "
                            "image needs a square number of them")  # fmt: skip
        values = frame[pixels].apply(pd.to_numeric, errors="coerce")
        bad = values.isna().any(axis=1) | ((values < 0) | (values > 255)).any(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{self.data_dir / name} line {row + 2}: pixel values must be numbers from 0 to 255")
        return frame

    def labelled_rows(self) -> int:
        return len(self._train_frame)

    def data_classes(self) -> list[str]:
        return list(self._train_frame[self.spec.options["label_column"]].unique())

    @functools.cached_property
    def _train_frame(self) -> pd.DataFrame:
        return self._read_pixels(self.spec.train_csv, [self.spec.options["label_column"]])

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self._train_frame
        table = pd.DataFrame({"id": [str(i) for i in range(1, len(frame) + 1)],
                              "label": frame[self.spec.options["label_column"]]})  # fmt: skip
        table["target"] = self.encode_labels(table, "label", self.spec.train_csv)
        return table

    @functools.cached_property
    def _test_frame(self) -> pd.DataFrame:
        return self._read_pixels(self.spec.options.get("test_csv", "test.csv"), [])

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        spec = self.spec
        frame = self.read_csv(spec.sample_submission, [spec.id_column])[[spec.id_column]]
        if len(frame) != len(self._test_frame):
            raise DataError(f"{self.data_dir / spec.sample_submission}: {len(frame)} rows, but "
                            f"{self.data_dir / spec.options.get('test_csv', 'test.csv')} has {len(self._test_frame)}")  # fmt: skip
        frame["id"] = frame[spec.id_column]
        return frame

    def cache_file(self, split: str) -> Path:
        if split not in self._cache_files:
            frame = self._train_frame if split == "train" else self._test_frame
            source = self.data_dir / (self.spec.train_csv if split == "train" else self.spec.options.get("test_csv", "test.csv"))
            stat = source.stat()
            key = hashlib.sha1(f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}:{self.cache_size}".encode()).hexdigest()[:16]
            target = self.cache_dir / f"{self.spec.slug}-{split}-{self.cache_size}px-{key}.npy"
            if not target.exists():
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                pixels = frame[pixel_columns(frame.columns)].to_numpy(dtype=np.float32)
                side = int(round(pixels.shape[1] ** 0.5))
                grey = torch.from_numpy(pixels.reshape(-1, 1, side, side))
                if side != self.cache_size:
                    grey = torch.nn.functional.interpolate(grey, size=(self.cache_size, self.cache_size), mode="bilinear",
                                                           align_corners=False)  # fmt: skip
                images = grey.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).expand(-1, -1, -1, 3).numpy()
                with atomic_path(target) as temporary:
                    with open(temporary, "wb") as handle:
                        np.save(handle, np.ascontiguousarray(images))
            self._cache_files[split] = target
        return self._cache_files[split]
