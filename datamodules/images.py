"""Shared DataModule for image-classification competitions read in their Kaggle layout.

Small images (cifar-10) are decoded once into a memory-mapped uint8 cache; the Dataset opens
the memmap lazily in each DataLoader worker, so nothing large is pickled to the workers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from competitions.core.errors import DataError
from competitions.core.layout import DEFAULT_RUNS_DIR
from competitions.core.layout import cache_dir as cache_dir_of
from competitions.core.metrics import multi_hot
from datamodules.image_cache import decoded_images
from datamodules.kfold import KFoldDataModule
from datamodules.transforms import eval_transform, train_transform

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CachedImageDataset(Dataset):
    """Rows ``indices`` of an ``.npy`` image cache, with optional integer targets."""

    def __init__(self, cache_file: Path, indices: np.ndarray, targets: np.ndarray | None, transform) -> None:
        self.cache_file = Path(cache_file)
        self.indices = np.asarray(indices)
        self.targets = targets
        self.transform = transform
        self._images: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self._images is None:  # opened per worker process
            self._images = np.load(self.cache_file, mmap_mode="r")
            self.seed_augmentation()
        row = int(self.indices[i])
        item = {"image": self.transform(image=np.array(self._images[row]))["image"], "index": row}
        if self.targets is not None:  # a class index, or a multi-label row's multi-hot vector
            target = self.targets[row]
            item["target"] = int(target) if np.ndim(target) == 0 else torch.as_tensor(target, dtype=torch.float32)
        return item

    def seed_augmentation(self) -> None:
        """Albumentations draws from its own generator, seeded from the OS when not told (so no two fits
        augmented alike) and copied as it is into every loader worker (so the workers' crops and flips
        repeated each other). Seeded from torch's seed of this process: the fold's seed in the main process,
        seed + worker id in a loader worker (Lightning's seed_everything(workers=True) sets both)."""
        if hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(torch.initial_seed() % 2**32)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_images": None}


class CachedRows(Dataset):
    """Rows ``indices`` of an image cache as indices only (``cache``: 0 the training cache, 1 the test one),
    for `augment_on: device`: the batch's images are taken from the cache on the device and normalised
    there (ImageClassificationDataModule.on_after_batch_transfer), not one by one on the CPU."""

    def __init__(self, indices: np.ndarray, targets: np.ndarray | None, cache: int) -> None:
        self.indices = np.asarray(indices)
        self.targets = targets
        self.cache = cache

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        row = int(self.indices[i])
        item = {"index": row, "cache": self.cache}
        if self.targets is not None:
            target = self.targets[row]
            item["target"] = int(target) if np.ndim(target) == 0 else torch.as_tensor(target, dtype=torch.float32)
        return item


class ImageClassificationDataModule(KFoldDataModule):
    # What image_size, mean and std are when not set (compete sets them from a pretrained backbone's
    # timm pretrained_cfg first; see competitions/pipeline/fit_parser.py).
    default_image_size: int = 32
    default_mean: tuple[float, float, float] = IMAGENET_MEAN
    default_std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def spec_defaults(cls, spec) -> dict:
        """A spec's ``mean``/``std`` (cifar-10's statistics) replace the ImageNet defaults."""
        return {f"default_{key}": spec.options[key] for key in ("mean", "std") if key in spec.options}

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 128,
        num_workers: int = 2,
        image_size: int | None = None,
        crop_padding: int = 4,
        hflip: bool = True,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        cache_dir: str | None = None,
        decode_workers: int | None = None,
        cache_size: int | None = None,
        resize: Literal["squash", "crop"] = "squash",
        crop_scale: float | None = None,
        vflip: bool = False,
        augment_on: Literal["loader", "device"] = "loader",
    ) -> None:
        """
        Args:
            data_dir: the competition folder, as Kaggle ships it.
            batch_size: samples per batch and per process.
            num_workers: DataLoader worker processes per training process.
            image_size: side of the square images fed to the model (default: a pretrained backbone's input size,
                else the dataset's).
            crop_padding: pixels of reflection padding before the random crop (0 = no crop; ignored with crop_scale).
            hflip: random horizontal flips in training.
            mean: per-channel normalisation mean, 0-1 scale (default: a pretrained backbone's, else the dataset's).
            std: per-channel normalisation std, 0-1 scale (default: a pretrained backbone's, else the dataset's).
            cache_dir: where decoded images are cached (default: runs/<slug>/cache; compete sets <runs-dir>/<slug>/cache).
            decode_workers: processes used to decode images into the cache (default: up to 8).
            cache_size: side of the square images kept in the decoded cache (default: image_size); larger
                leaves room for random resized crops.
            resize: how images become square in the cache: squash (any aspect) or crop (keep the aspect,
                centre crop), for photos of various sizes.
            crop_scale: train on random resized crops covering crop_scale..1 of the cached image (None: pad-and-crop).
            vflip: random vertical flips in training (for subjects without an up, like leaves).
            augment_on: loader: albumentations per image in DataLoader workers (any augmentation); device: the
                uint8 cache on the training device and pad-crop-flip-normalise on whole batches there (no
                workers; for small cached images; not with crop_scale), validation and test prediction
                normalised there in whole batches too. Same crops and flips either way.
        """
        super().__init__(data_dir=data_dir, batch_size=batch_size, num_workers=num_workers)
        image_size = image_size or self.default_image_size
        self.image_size = image_size
        self.crop_padding = crop_padding
        self.hflip = hflip
        self.mean = tuple(mean if mean is not None else self.default_mean)
        self.std = tuple(std if std is not None else self.default_std)
        self.cache_dir = Path(cache_dir) if cache_dir else cache_dir_of(DEFAULT_RUNS_DIR, self.spec.slug)
        self.decode_workers = decode_workers
        self.cache_size = cache_size or image_size
        if self.cache_size < image_size:
            raise DataError(f"data.cache_size ({cache_size}) must be at least data.image_size ({image_size})")
        self.resize = resize
        self.crop_scale = crop_scale
        self.vflip = vflip
        if augment_on == "device" and crop_scale is not None:
            raise DataError("data.augment_on device does pad-crop-flip on whole batches; random resized crops "
                            "(data.crop_scale) need augment_on loader")  # fmt: skip
        if augment_on == "device" and self.cache_size != image_size:
            raise DataError(f"data.augment_on device crops the cached images as they are: data.cache_size "
                            f"({cache_size}) must equal data.image_size ({image_size})")  # fmt: skip
        self.augment_on = augment_on
        self._cache_files: dict[str, Path] = {}
        self._device_images = None
        self._device_caches: dict = {}  # cache file -> DeviceImages

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.classes

    def model_kwargs(self) -> dict:
        kwargs = {"num_classes": len(self.class_names), "class_names": list(self.class_names)}
        return {**kwargs, "multi_label": True} if self.spec.multi_label else kwargs

    def strata(self) -> np.ndarray:
        labels = self.train_table["label"]
        # Multi-label: stratified on each row's first label (its label set is too rare a stratum).
        return (labels.str.split().str[0] if self.spec.multi_label else labels).to_numpy()

    @functools.cached_property
    def targets(self) -> np.ndarray:
        """What the model learns per training row: the class index, or (multi-label) the multi-hot vector."""
        if self.spec.multi_label:
            return multi_hot(self.train_table["label"], self.class_names)
        return self.train_table["target"].to_numpy()

    # ---- labels -----------------------------------------------------------------------
    def check_images(self, frame: pd.DataFrame, paths: Sequence[str], source: str, column: str) -> None:
        """Every listed image must exist inside the competition folder: the first absent one (or one
        whose path leads outside the folder) is named with its CSV line."""
        root = str(self.data_dir)
        for row, path in enumerate(paths):
            if not path.startswith(root) or ".." in Path(path).parts:  # textual: no system call per image
                raise DataError(
                    f"{self.data_dir / source} line {row + 2}: {column} {frame[column].iloc[row]!r} points outside "
                    f"the competition folder {self.data_dir}; refusing to read it"
                )
            if not os.path.isfile(path):
                absent = sum(not os.path.isfile(p) for p in paths)
                more = f" ({absent - 1} more absent)" if absent > 1 else ""
                raise DataError(
                    f"{self.data_dir / source} line {row + 2}: {column} {frame[column].iloc[row]!r} has no image "
                    f"file {path}{more}"
                )

    # ---- the image caches --------------------------------------------------------------
    def cache_file(self, split: str) -> Path:
        """The decoded-image cache of ``split``, built on first use. Its key stats every image,
        so it is looked up once per process, not on every dataset or prepare_data call."""
        if split not in self._cache_files:
            table = self.train_table if split == "train" else self.test_table
            size = (self.cache_size, self.cache_size)
            self._cache_files[split] = decoded_images(
                table["path"].tolist(),
                size,
                self.cache_dir,
                f"{self.spec.slug}-{split}",
                workers=self.decode_workers,
                resize=self.resize,
            )
        return self._cache_files[split]

    def at_resolution(self, size: int) -> dict:
        """Feed the model ``size`` px images from now on (a budget's resolution rung): the data settings
        that changed, for config.yaml. A cache kept at the image size (device augmentation crops it as it
        is) follows it: the next use decodes the images again at ``size``, train and test alike, as
        predict will; a larger cache (random resized crops) stays and is resized from."""
        if size < 8 or size > self.cache_size:
            raise DataError(f"data.image_size {size}: a budget's smaller resolution must be 8 to {self.cache_size} "
                            "px (data.cache_size)")  # fmt: skip
        changed = {"image_size": size}
        if self.cache_size == self.image_size:
            self.cache_size = changed["cache_size"] = size
            self._cache_files.clear()
            self._device_caches.clear()
            self._device_images = None
        self.image_size = size
        return changed

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node, then lets the others read the cache.
        self.cache_file("train")

    def prepare_split(self, split: str) -> None:
        self.cache_file("test" if split == "test" else "train")

    # ---- dataloaders -------------------------------------------------------------------
    def _eval_tf(self):
        return eval_transform(self.image_size, self.mean, self.std)

    def train_dataset(self, rows: np.ndarray | None = None) -> CachedImageDataset:
        """The training rows of the current fold (or ``rows``), with the training augmentation."""
        tf = train_transform(
            self.image_size, self.crop_padding, self.hflip, self.mean, self.std, self.crop_scale, self.vflip
        )
        rows = self.train_indices() if rows is None else rows
        return CachedImageDataset(self.cache_file("train"), rows, self.targets, tf)

    def val_dataset(self) -> CachedImageDataset | CachedRows:
        if self.augment_on == "device":
            return CachedRows(self.val_indices(), self.targets, cache=0)
        return CachedImageDataset(
            self.cache_file("train"), self.val_indices(), self.targets, self._eval_tf()
        )

    def test_dataset(self) -> CachedImageDataset | CachedRows:
        if self.augment_on == "device":
            return CachedRows(np.arange(len(self.test_table)), None, cache=1)
        return CachedImageDataset(self.cache_file("test"), np.arange(len(self.test_table)), None, self._eval_tf())

    def device_images(self, split: str):
        """The decoded cache of ``split`` ("train" or "test") as a tensor per device, loaded once."""
        from datamodules.batched import DeviceImages

        path = self.cache_file(split)
        if path not in self._device_caches:
            self._device_caches[path] = DeviceImages(path)
        return self._device_caches[path]

    def train_dataloader(self) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        world = getattr(trainer, "world_size", 1) or 1
        if self.augment_on == "device":
            from datamodules.batched import IndexBatches

            rows = self.train_indices()
            self._device_images = self.device_images("train")
            batches = IndexBatches(rows, self.targets, self.batch_size,
                                   len(rows) // world >= self.batch_size, torch.initial_seed() % 2**31,
                                   getattr(trainer, "global_rank", 0) or 0, world)  # fmt: skip
            return DataLoader(batches, batch_size=None, num_workers=0)
        dataset = self.train_dataset()
        # Drop the ragged last batch (a batch of one breaks BatchNorm), unless that leaves a process nothing.
        drop_last = len(dataset) // world >= self.batch_size
        return DataLoader(dataset, shuffle=True, drop_last=drop_last, **self._loader_kwargs())

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Device augmentation: a training batch of row indices becomes images, on the device it is on."""
        if not (isinstance(batch, dict) and "image" not in batch and self.augment_on == "device" and "index" in batch):
            return batch
        from datamodules.batched import augment_batch

        rows = batch["index"].to(torch.long)
        if "cache" in batch:  # validation or test rows: the cached images, normalised, as eval_transform does
            split = "test" if int(batch["cache"][0]) == 1 else "train"
            images = self.device_images(split).on(rows.device)[rows]
            plain = {k: v for k, v in batch.items() if k != "cache"}
            return {**plain, "image": augment_batch(images, 0, False, False, self.mean, self.std)}
        images = self.device_images("train").on(rows.device)[rows]
        return {**batch, "image": augment_batch(images, self.crop_padding, self.hflip, self.vflip, self.mean,
                                                self.std)}  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset(), shuffle=False, **self._loader_kwargs())

    def predict_dataset(self, split: str) -> CachedImageDataset:
        return self.val_dataset() if split == "val" else self.test_dataset()

    @functools.cached_property
    def test_ids(self) -> list[str]:
        return self.test_table["id"].tolist()
