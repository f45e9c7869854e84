"""The tabular DataModule of the house-price competitions: train.csv / test.csv in Kaggle's layout.

Preprocessing is fitted on the current fold's training rows only and then applied to its
validation rows and to the test set, so no statistic of a validation row leaks into training.
The model learns the log price, standardised with the training fold's mean and std.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from competitions.core.console import info, warn
from competitions.core.errors import DataError
from competitions.core.spec import CompetitionSpec
from datamodules.features import FeatureConfig, fit_transform, infer_roles, infinite_counts, role_summary, typed_frame
from datamodules.kfold import KFoldDataModule

# pandas reads these as missing. Not "NA": in Ames it is a value ("no alley"), kept as a category.
NA_VALUES = ["", "#N/A", "N/A", "NULL", "NaN", "nan", "null", "None"]


class FeatureDataset(Dataset):
    def __init__(self, features: np.ndarray, rows: np.ndarray, targets: np.ndarray | None) -> None:
        self.features = torch.as_tensor(features, dtype=torch.float32)
        self.rows = torch.as_tensor(rows)
        self.targets = None if targets is None else torch.as_tensor(targets, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"x": self.features[i], "index": self.rows[i]}
        if self.targets is not None:
            item["target"] = self.targets[i]
        return item


class TabularDataModule(KFoldDataModule):
    spec: ClassVar[CompetitionSpec]

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 128,
        num_workers: int = 0,
        drop: Sequence[str] = (),
        numeric: Sequence[str] = (),
        date: Sequence[str] = (),
        categorical: Sequence[str] = (),
        high_card: Sequence[str] = (),
        multi_label: Sequence[str] = (),
        text: Sequence[str] = (),
        text_features: bool = False,
        max_onehot: int = 30,
        min_frequency: int = 5,
        top_items: int = 20,
        scaling: Literal["quantile", "log", "standard"] = "log",
        cache_dir: str | None = None,
    ) -> None:
        """
        Args:
            data_dir: the competition folder, as Kaggle ships it.
            batch_size: rows per batch and per process.
            num_workers: DataLoader worker processes (0: load in the training process; the data is small).
            drop: columns to ignore.
            numeric: columns to read as numbers (words in them become missing values).
            date: columns to parse as dates (days since 1970, month).
            categorical: columns to one-hot encode (e.g. numeric codes like MSSubClass).
            high_card: columns to target-encode (many categories: zip codes, cities, schools).
            multi_label: comma-separated lists to multi-hot encode (their top_items most frequent items).
            text: free-text columns (dropped, or length features with text_features).
            text_features: keep the character and word counts of text columns instead of dropping them.
            max_onehot: columns not listed above with more distinct values than this are target-encoded.
            min_frequency: categories seen fewer times in the training fold share one column with unseen ones.
            top_items: items kept per multi-label column.
            scaling: numeric columns: quantile (mapped to a normal; robust to skew and outliers), log (signed
                log1p then standardised; keeps a price proportional to an amount linear) or standard.
            cache_dir: unused (tabular data is small).
        """
        super().__init__(data_dir=data_dir, batch_size=batch_size, num_workers=num_workers)
        self.config = FeatureConfig(
            drop=tuple(drop),
            numeric=tuple(numeric),
            date=tuple(date),
            categorical=tuple(categorical),
            high_card=tuple(high_card),
            multi_label=tuple(multi_label),
            text=tuple(text),
            text_features=text_features,
            max_onehot=max_onehot,
            min_frequency=min_frequency,
            top_items=top_items,
            scaling=scaling,
        )
        self._fold_features: tuple | None = None  # (fold, train features, test features, target scale, transformer)

    # ---- the CSVs ----------------------------------------------------------------------
    def _read(self, name: str, columns: Sequence[str]) -> pd.DataFrame:
        """Ids and the target as written (strings); features typed by pandas, then by role."""
        frame = self.read_csv(
            name, columns, keep_default_na=False, na_values=NA_VALUES, dtype=dict.fromkeys(columns, str)
        )
        frame[columns[0]] = frame[columns[0]].astype(str)
        return frame

    @functools.cached_property
    def raw_train(self) -> pd.DataFrame:
        spec = self.spec
        frame = self._read(spec.train_csv, [spec.id_column, spec.target_column])
        target = pd.to_numeric(frame[spec.target_column], errors="coerce")
        bad = (target.isna() | (target <= 0)).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = frame[spec.target_column].iloc[row]
            raise DataError(
                f"{self.data_dir / spec.train_csv} line {row + 2}: {spec.target_column} is "
                f"{'missing' if pd.isna(value) else repr(value)}; prices must be positive numbers "
                f"(the metric takes their log){f' ({int(bad.sum()) - 1} more such rows)' if bad.sum() > 1 else ''}"
            )
        frame[spec.target_column] = target.astype(float)
        return frame

    @functools.cached_property
    def raw_test(self) -> pd.DataFrame:
        spec = self.spec
        frame = self._read("test.csv", [spec.id_column])
        features = [c for c in self.raw_train.columns if c not in (spec.id_column, spec.target_column)]
        absent = [c for c in features if c not in frame.columns and c not in self.config.drop]
        if absent:
            shown = ", ".join(map(repr, absent[:5])) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            raise DataError(f"{self.data_dir / 'test.csv'}: missing column {shown} (present in {spec.train_csv})")
        empty = [c for c in features if c in frame.columns and c not in self.config.drop and frame[c].isna().all()
                 and not self.raw_train[c].isna().all()]  # fmt: skip
        if empty:
            shown = ", ".join(map(repr, empty[:5])) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
            warn(f"{self.data_dir / 'test.csv'}: column {shown} is empty in every row (not in {spec.train_csv}); the "
                 "model learns from it but will see it missing everywhere at test time: consider data.drop")  # fmt: skip
        return frame

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self.raw_train
        return pd.DataFrame({"id": frame[self.spec.id_column], "target": frame[self.spec.target_column]})

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        return pd.DataFrame({"id": self.raw_test[self.spec.id_column]})

    # ---- features ----------------------------------------------------------------------
    @functools.cached_property
    def roles(self) -> dict[str, str]:
        features = self.raw_train.drop(columns=[self.spec.id_column, self.spec.target_column])
        roles = infer_roles(features, self.config)
        info(f"features: {role_summary(roles)} columns ({self.spec.train_csv})")
        return roles

    @functools.cached_property
    def typed(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(train, test) parsed by role; nothing fitted yet. Infinite numbers are missing values (said once)."""
        for name, frame in ((self.spec.train_csv, self.raw_train), ("test.csv", self.raw_test)):
            for column, count in infinite_counts(frame, self.roles).items():
                warn(f"{self.data_dir / name}: column {column!r} has {count} infinite value{'s' if count > 1 else ''}; "
                     "read as missing")  # fmt: skip
        return (
            typed_frame(self.raw_train, self.roles, self.config.text_features),
            typed_frame(self.raw_test, self.roles, self.config.text_features),
        )

    def log_target(self) -> np.ndarray:
        return self._log_target

    @functools.cached_property
    def _log_target(self) -> np.ndarray:
        return np.log(self.train_table["target"].to_numpy(dtype=float))

    def fold_features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Features of every training row and of the test set, with the preprocessing fitted on the
        current fold's training rows, and the log-target scale of those rows (cached per fold)."""
        if self.fold is None:
            raise RuntimeError("call set_fold() before asking for features")
        if self._fold_features is None or self._fold_features[0] != self.fold:
            train_typed, test_typed = self.typed
            rows = self.train_indices()
            y = self.log_target()
            transformer, fitted_rows = fit_transform(train_typed, self.roles, self.config, rows, y[rows])
            # The training rows keep their fit_transform features: target encoding is cross-fitted
            # there, so no training row's encoding has seen its own price (transform would use it).
            # Only the other rows (the fold's validation rows) go through transform.
            train_x = np.empty((len(train_typed), fitted_rows.shape[1]), dtype=np.float32)
            train_x[rows] = fitted_rows
            others = np.setdiff1d(np.arange(len(train_typed)), rows)
            if len(others):
                train_x[others] = transformer.transform(train_typed.iloc[others])
            test_x = np.asarray(transformer.transform(test_typed), dtype=np.float32)
            scale = {"target_mean": float(y[rows].mean()), "target_std": float(y[rows].std() or 1.0)}
            self._fold_features = (self.fold, train_x, test_x, scale, transformer)
        _, train_x, test_x, scale, _ = self._fold_features
        return train_x, test_x, self.log_target(), scale

    @property
    def preprocessor(self):
        """The ColumnTransformer fitted on the current fold's training rows."""
        self.fold_features()
        return self._fold_features[4]

    def model_kwargs(self) -> dict:
        train_x, _, _, scale = self.fold_features()
        return {"num_features": int(train_x.shape[1]), **scale}

    # ---- dataloaders -------------------------------------------------------------------
    def _dataset(self, split: str) -> FeatureDataset:
        train_x, test_x, y, _ = self.fold_features()
        if split == "test":
            return FeatureDataset(test_x, np.arange(len(test_x)), None)
        rows = self.train_indices() if split == "train" else self.val_indices()
        return FeatureDataset(train_x[rows], rows, y[rows])

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset("train")
        world = getattr(getattr(self, "trainer", None), "world_size", 1) or 1
        drop_last = len(dataset) // world > self.batch_size  # no batch of one (BatchNorm)
        return DataLoader(dataset, shuffle=True, drop_last=drop_last, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset("val"), shuffle=False, **self._loader_kwargs())

    def predict_dataset(self, split: str) -> FeatureDataset:
        return self._dataset(split)
