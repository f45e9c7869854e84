"""The base of every competition DataModule: Kaggle-layout checks, the fold split, fold selection.

The DataModule owns the split (``folds.csv``); the k-fold runner only says which fold to serve
(``set_fold``). Which rows to predict is an argument of each prediction, never a flag on the
DataModule: ``trainer.predict(model, datamodule=dm.prediction_data("val"))`` predicts the fold's
validation rows (the out-of-fold predictions), ``prediction_data("test")`` the test set.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import lightning as L
import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, DistributedSampler

from competitions.core.errors import DataError
from competitions.core.ranks import usable_cpus
from competitions.core.spec import CompetitionSpec
from datamodules.folds import load_or_create_folds, repeat_column

Split = Literal["val", "test"]


class KFoldDataModule(L.LightningDataModule):
    spec: ClassVar[CompetitionSpec]

    def __init__(self, data_dir: str = "data", batch_size: int = 128, num_workers: int = 2) -> None:
        """
        Args:
            data_dir: the competition folder, as Kaggle ships it (default: data/<slug>).
            batch_size: samples per batch and per process.
            num_workers: DataLoader worker processes per training process.
        """
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.fold: int | None = None
        self.folds: pd.DataFrame | None = None
        self._row_folds: np.ndarray | None = None  # fold of each train_table row per repeat, set by ensure_folds
        self.n_folds = 0

    @classmethod
    def bind(cls, spec: CompetitionSpec) -> type[KFoldDataModule]:
        """This class for the competition ``spec`` (the one way a spec reaches a DataModule: the pipeline's
        factory calls it): a subclass holding the spec and the defaults it sets."""
        return type(cls.__name__, (cls,), {"spec": spec, "__module__": cls.__module__, "__doc__": cls.__doc__,
                                           **cls.spec_defaults(spec)})  # fmt: skip

    @classmethod
    def spec_defaults(cls, spec: CompetitionSpec) -> dict:
        """Class attributes a spec sets (image statistics, ...); none here."""
        return {}

    # ---- layout and tables -------------------------------------------------------------
    def check_layout(self) -> None:
        """Raise a DataError naming what is missing when ``data_dir`` is not this competition's folder."""
        slug = self.spec.slug
        if not self.data_dir.is_dir():
            raise DataError(
                f"{self.data_dir}: no such folder; download the data first "
                f"(kaggle competitions download -c {slug}) or set `data_dir` to the competition folder"
            )
        missing = []
        for name in self.spec.expected_files:
            path = self.data_dir / name
            if not (path.is_dir() if name.endswith("/") else path.is_file()):
                missing.append(name)
        if missing:
            hints = [
                f"found {archive}: {hint}"
                for archive, hint in self.spec.archives.items()
                if (self.data_dir / archive).exists()
            ]
            hint = f" ({'; '.join(hints)})" if hints else ""
            raise DataError(f"{self.data_dir} is not a {slug} folder: missing {', '.join(missing)}{hint}")

    # ---- reading the competition's CSVs ------------------------------------------------
    def read_csv(self, name: str, columns: Sequence[str], unique: bool = True, **read_kwargs) -> pd.DataFrame:
        """Read one of the competition's CSVs, checking its columns and (``unique``) that the first
        of ``columns`` has no duplicates. Default: every cell a string, exactly as written."""
        path = self.data_dir / name
        read_kwargs = read_kwargs or {"dtype": str, "keep_default_na": False}
        try:
            frame = pd.read_csv(path, **read_kwargs)
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty (no header, no rows)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DataError(f"{path}: not a readable CSV ({err})") from None
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise DataError(
                f"{path}: missing column {', '.join(map(repr, absent))} (found: {', '.join(frame.columns)})"
            )
        duplicated = frame[columns[0]].duplicated() if unique else None
        if duplicated is not None and duplicated.any():
            row = int(np.flatnonzero(duplicated)[0])
            raise DataError(f"{path} line {row + 2}: duplicate {columns[0]} {frame.iloc[row][columns[0]]!r}")
        return frame

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        """One row per training example: at least ``id`` and ``target``, in the CSV's order."""
        raise NotImplementedError

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        """One row per test example, in the sample submission's order: at least ``id``."""
        raise NotImplementedError

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes, in the model's output order (empty for regression)."""
        return ()

    def encode_labels(self, frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
        """Class names -> indices (images and tables alike); the first unknown or empty label is reported with its line."""
        lookup = {name: i for i, name in enumerate(self.class_names)}
        labels = frame[column]
        unknown = ~labels.isin(lookup)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            known = ", ".join(self.class_names) if len(self.class_names) <= 12 else f"{len(self.class_names)} classes"
            raise DataError(
                f"{self.data_dir / source} line {row + 2}: {column} {labels.iloc[row]!r} is not one of the "
                f"{len(self.class_names)} {self.spec.slug} classes ({known})"
            )
        return labels.map(lookup).to_numpy(dtype=np.int64)

    def model_kwargs(self) -> dict:
        """Constructor arguments the model takes from the data of the current fold
        (classes for a classifier; input width and target scale for a tabular model)."""
        return {}

    def strata(self) -> np.ndarray | None:
        """What the folds are stratified on (the class for classification)."""
        return None

    # ---- what a fold fits on the data (tables: the preprocessing), saved beside its model ----------
    def data_fingerprint(self) -> dict[str, str]:
        """sha256 of the files a fold's fitted preprocessing saw (file -> digest); none here."""
        return {}

    def save_fitted_preprocessing(self, fold_dir: Path) -> None:
        """Save what the current fold fitted on its training rows, for predict; nothing is fitted here."""

    def use_fitted_preprocessing(self, fold: int, fold_dir: Path) -> None:
        """Predict ``fold`` with the preprocessing saved in ``fold_dir`` (none here)."""

    # ---- folds -------------------------------------------------------------------------
    def ensure_folds(self, path: str | os.PathLike, n_folds: int, seed: int, write: bool = True,
                     n_repeats: int = 1) -> pd.DataFrame:  # fmt: skip
        """Read (or create) the split; with ``n_repeats`` R, run fold j is fold j % k of repeat j // k."""
        self.folds = load_or_create_folds(path, self.train_table["id"].tolist(), self.strata(), n_folds, seed,
                                          write=write, source=self.train_source(), n_repeats=n_repeats)  # fmt: skip
        by_id = self.folds.set_index("id")
        columns = [repeat_column(r) for r in range(n_repeats)]
        self.n_folds = n_folds
        self._row_folds = by_id.loc[self.train_table["id"], columns].to_numpy(dtype=int)  # rows x repeats
        return self.folds

    def train_source(self) -> str:
        """The training CSV, for messages."""
        return str(self.data_dir / self.spec.train_csv)

    def set_fold(self, fold: int) -> None:
        if self.folds is None:
            raise RuntimeError("call ensure_folds() before set_fold()")
        if not 0 <= fold < self._row_folds.shape[1] * self.n_folds:
            raise ValueError(f"fold {fold}: the split has {self._row_folds.shape[1]} x {self.n_folds} folds")
        self.fold = fold

    def _in_fold(self) -> np.ndarray:
        repeat, fold = divmod(self.fold, self.n_folds)
        return self._row_folds[:, repeat] == fold

    def train_indices(self) -> np.ndarray:
        return np.flatnonzero(~self._in_fold())

    def val_indices(self) -> np.ndarray:
        return np.flatnonzero(self._in_fold())

    # ---- prediction: the rows to predict are an argument ----------------------------------
    def predict_dataset(self, split: Split):
        """The current fold's validation rows (``val``) or the test set (``test``), without augmentation."""
        raise NotImplementedError

    def prepare_split(self, split: Split) -> None:
        """Build what predicting ``split`` needs (decoded-image caches); Lightning calls it on one process."""

    def prediction_data(self, split: Split) -> PredictionData:
        """What ``trainer.predict(model, datamodule=...)`` takes to predict ``split`` of the current fold."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', not {split!r}")
        return PredictionData(self, split)

    def prediction_loader(self, dataset, trainer=None) -> DataLoader:
        """In order, one batch after another. Under DDP each process takes whole batches in turn
        (see BatchAlignedSampler), so every batch holds the same rows as in a one-process run and
        the predictions come out bit for bit the same."""
        world = getattr(trainer, "world_size", 1) or 1
        if world > 1:
            sampler = BatchAlignedSampler(dataset, world, trainer.global_rank, self.batch_size)
            return DataLoader(dataset, sampler=sampler, **self._loader_kwargs())
        return DataLoader(dataset, shuffle=False, **self._loader_kwargs())

    def _loader_kwargs(self) -> dict:
        # Never more loader processes than the CPUs this process may run on (a preset written for a
        # 32-core GPU box must not start 16 workers on a 2-core laptop).
        workers = min(self.num_workers, usable_cpus())
        return {
            "batch_size": self.batch_size,
            "num_workers": workers,
            "persistent_workers": workers > 0,
            "pin_memory": _cuda_available(),
        }


class PredictionData(L.LightningDataModule):
    """The rows one ``trainer.predict`` call predicts, bound at construction (``val`` or ``test``).

    A LightningDataModule of its own so that Lightning still prepares the data on one process per
    node (the image cache) and builds the loader after the processes are set up (DDP ranks).
    """

    def __init__(self, source: KFoldDataModule, split: Split) -> None:
        super().__init__()
        self.source = source
        self.split = split

    def prepare_data(self) -> None:
        self.source.prepare_split(self.split)

    def predict_dataloader(self) -> DataLoader:
        return self.source.prediction_loader(self.source.predict_dataset(self.split), self.trainer)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """What the source does to a batch on the device (device augmentation: the images of the rows)."""
        return self.source.on_after_batch_transfer(batch, dataloader_idx)


class BatchAlignedSampler(DistributedSampler):
    """Rank r of W gets batches r, r+W, r+2W, ... of the sequential order, whole.

    Lightning's DistributedSampler deals out single rows (rank 0: rows 0, 2, 4, ...), so each
    batch holds different rows than in a one-process run, and CPU/GPU kernels give last-bit
    different results for different batches. Here the batches themselves are dealt out. Being a
    DistributedSampler, Lightning uses it as it is.
    """

    def __init__(self, dataset, num_replicas: int, rank: int, batch_size: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        n = len(dataset)
        starts = range(0, n, batch_size)[rank::num_replicas]
        self.indices = [i for start in starts for i in range(start, min(start + batch_size, n))]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
