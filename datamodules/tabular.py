"""The tabular DataModule: train.csv / test.csv in Kaggle's layout (the house prices, and any table a
spec file describes: regression or binary / multiclass classification).

Preprocessing is fitted on the current fold's training rows only and then applied to its
validation rows and to the test set, so no statistic of a validation row leaks into training.
A regression model learns the log of the target (prices; ``spec.log_scale``) or the target itself,
a classifier the class index (``model_target``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from competitions.core.console import info, warn
from competitions.core.errors import DataError
from competitions.core.spec import CompetitionSpec, check_class_count
from datamodules.features import FeatureConfig, fit_transform, infer_roles, infinite_counts, role_summary, typed_frame
from datamodules.kfold import KFoldDataModule

# pandas reads these as missing. Not "NA": in Ames it is a value ("no alley"), kept as a category.
PREPROCESSOR_FILE = "preprocessor.joblib"  # in each fold<k>/ (RunLayout.preprocessor)
NA_VALUES = ["", "#N/A", "N/A", "NULL", "NaN", "nan", "null", "None"]


class FeatureDataset(Dataset):
    def __init__(self, features: np.ndarray, rows: np.ndarray, targets: np.ndarray | None) -> None:
        self.features = torch.as_tensor(features, dtype=torch.float32)
        self.rows = torch.as_tensor(rows)
        # Regression targets as floats, class indices as integers (cross-entropy takes them so).
        self.targets = None if targets is None else torch.as_tensor(
            targets, dtype=torch.float32 if np.asarray(targets).dtype.kind == "f" else torch.long)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"x": self.features[i], "index": self.rows[i]}
        if self.targets is not None:
            item["target"] = self.targets[i]
        return item


def sorted_labels(labels) -> list[str]:
    """Class names in order: as numbers when every one is a number ("2" before "10"), else as text."""
    labels = [str(v) for v in labels]
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


class TabularDataModule(KFoldDataModule):
    """train.csv / test.csv of a regression (a number per row) or a classification (a class per row)."""

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
        scaling: Literal["quantile", "log", "skew", "standard"] = "log",
        skew_threshold: float = 0.75,
        derived: dict[str, str] | None = None,
        drop_rows: str | None = None,
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
                log1p then standardised; keeps a price proportional to an amount linear), skew (log1p of the
                columns whose skewness exceeds skew_threshold, then standardised) or standard. One-hot
                encoding only: the trees' native encoding leaves numbers as they are.
            skew_threshold: scaling skew: the |skewness| above which a column is logged.
            derived: new columns computed from others in both CSVs, name -> pandas expression, e.g.
                {"TotalSF": "TotalBsmtSF + `1stFlrSF` + `2ndFlrSF`"} (backticks around names that are not
                identifiers).
            drop_rows: a pandas query on train.csv (e.g. "GrLivArea > 4000 and SalePrice < 300000"): the
                matching rows are left out of every fold's training rows; they keep their fold and are still
                predicted out-of-fold, so every experiment scores the same rows.
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
            skew_threshold=skew_threshold,
        )
        self.derived = dict(derived or {})
        self.drop_rows = drop_rows
        self._fold_features: tuple | None = None  # (key, train features, test features, target scale, transformer)
        self._fold_cache: dict[tuple, tuple] = {}  # every fold's, kept: compete tune fits each fold many times
        self._saved_preprocessors: dict[int, Path] = {}  # fold -> preprocessor.joblib (predict: no refit)

    # ---- the CSVs ----------------------------------------------------------------------
    def _read(self, name: str, columns: Sequence[str]) -> pd.DataFrame:
        """Ids and the target as written (strings); features typed by pandas, then by role."""
        frame = self.read_csv(
            name, columns, keep_default_na=False, na_values=NA_VALUES, dtype=dict.fromkeys(columns, str)
        )
        frame[columns[0]] = frame[columns[0]].astype(str)
        return frame

    @property
    def test_csv(self) -> str:
        return str(self.spec.options.get("test_csv", "test.csv"))

    @property
    def label_column(self) -> str:
        """The training CSV's target column (a spec file may name the sample submission's otherwise)."""
        return str(self.spec.options.get("label_column", self.spec.target_column))

    @property
    def classifies(self) -> bool:
        return self.spec.task == "classification"

    @functools.cached_property
    def raw_train(self) -> pd.DataFrame:
        spec, label = self.spec, self.label_column
        frame = self._read(spec.train_csv, [spec.id_column, label])
        path = self.data_dir / spec.train_csv
        if self.classifies:
            labels = frame[label].str.strip()
            empty = labels.isna() | (labels == "")
            if empty.any():
                row = int(np.flatnonzero(empty.to_numpy())[0])
                raise DataError(f"{path} line {row + 2}: {label} is empty; every training row needs its class "
                                f"({int(empty.sum())} such row{'s' if empty.sum() > 1 else ''})")  # fmt: skip
            frame[label] = labels
            return self._with_derived(frame, spec.train_csv)
        target = pd.to_numeric(frame[label], errors="coerce")
        bad = target.isna() | ~np.isfinite(target)
        if spec.log_scale:
            bad |= target <= 0
        bad = bad.to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = frame[label].iloc[row]
            rule = ("must be positive numbers (the metric takes their log)" if spec.log_scale
                    else "must be numbers")  # fmt: skip
            raise DataError(
                f"{path} line {row + 2}: {label} is {'missing' if pd.isna(value) else repr(value)}; targets {rule}"
                f"{f' ({int(bad.sum()) - 1} more such rows)' if bad.sum() > 1 else ''}"
            )
        frame[label] = target.astype(float)
        return self._with_derived(frame, spec.train_csv)

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        """Classification: the spec's classes, or the training labels sorted (as numbers when they all are)."""
        if not self.classifies:
            return ()
        if self.spec.classes:
            return tuple(self.spec.classes)
        classes = tuple(sorted_labels(self.raw_train[self.label_column].unique()))
        if len(classes) < 2:
            raise DataError(f"{self.data_dir / self.spec.train_csv}: {self.label_column} has one value "
                            f"({classes[0] if classes else ''!r}) in every row; a classification needs at least two "
                            "classes")  # fmt: skip
        check_class_count(len(classes), len(self.raw_train), str(self.data_dir / self.spec.train_csv), self.label_column,
                          self.spec.max_class_share, tabular=True)  # fmt: skip
        return classes

    @functools.cached_property
    def raw_test(self) -> pd.DataFrame:
        spec = self.spec
        frame = self._with_derived(self._read(self.test_csv, [spec.id_column]), self.test_csv)
        features = [c for c in self.raw_train.columns if c not in (spec.id_column, self.label_column)]
        absent = [c for c in features if c not in frame.columns and c not in self.config.drop]
        if absent:
            shown = ", ".join(map(repr, absent[:5])) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            raise DataError(f"{self.data_dir / self.test_csv}: missing column {shown} (present in {spec.train_csv})")
        empty = [c for c in features if c in frame.columns and c not in self.config.drop and frame[c].isna().all()
                 and not self.raw_train[c].isna().all()]  # fmt: skip
        if empty:
            shown = ", ".join(map(repr, empty[:5])) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
            warn(f"{self.data_dir / self.test_csv}: column {shown} is empty in every row (not in {spec.train_csv}); the "
                 "model learns from it but will see it missing everywhere at test time: consider data.drop")  # fmt: skip
        return frame

    def _with_derived(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """``frame`` with the ``derived`` columns added (numbers written as text are read as numbers)."""
        if not self.derived:
            return frame
        numbers = frame.copy()
        for column in numbers.columns[1:]:
            if not pd.api.types.is_numeric_dtype(numbers[column]):
                parsed = pd.to_numeric(numbers[column], errors="coerce")
                if parsed.notna().sum() >= 0.5 * numbers[column].notna().sum() > 0:
                    numbers[column] = parsed
        for column, expression in self.derived.items():
            try:
                frame[column] = pd.to_numeric(numbers.eval(expression, engine="python"), errors="coerce")
            except Exception as err:  # noqa: BLE001 - pandas raises many kinds for a bad expression
                raise DataError(f"{self.data_dir / name}: `data.derived` {column}: cannot compute {expression!r} "
                                f"({err.__class__.__name__}: {err})") from None  # fmt: skip
            numbers[column] = frame[column]
        return frame

    def data_fingerprint(self) -> dict[str, str]:
        """sha256 of the training CSV: what the fitted preprocessing and models saw."""
        digest = hashlib.sha256()
        with open(self.data_dir / self.spec.train_csv, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return {self.spec.train_csv: digest.hexdigest()}

    @functools.cached_property
    def excluded_rows(self) -> np.ndarray:
        """Training rows matching ``drop_rows`` (left out of every fold's training rows)."""
        if not self.drop_rows:
            return np.zeros(0, dtype=int)
        try:
            mask = self.raw_train.eval(self.drop_rows, engine="python")
        except Exception as err:  # noqa: BLE001 - pandas raises many kinds for a bad expression
            raise DataError(f"{self.data_dir / self.spec.train_csv}: `data.drop_rows` {self.drop_rows!r}: "
                            f"{err.__class__.__name__}: {err}") from None  # fmt: skip
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        info(f"data.drop_rows: {len(rows)} training row{'s' if len(rows) != 1 else ''} left out of training "
             f"({self.drop_rows}); still predicted out-of-fold")  # fmt: skip
        return rows

    def train_indices(self) -> np.ndarray:
        rows = super().train_indices()
        return np.setdiff1d(rows, self.excluded_rows) if len(self.excluded_rows) else rows

    @functools.cached_property
    def train_table(self) -> pd.DataFrame:
        frame = self.raw_train
        self.excluded_rows  # noqa: B018 - a bad drop_rows expression is reported with the data, before any work
        if not self.classifies:
            return pd.DataFrame({"id": frame[self.spec.id_column], "target": frame[self.label_column]})
        return pd.DataFrame({"id": frame[self.spec.id_column], "label": frame[self.label_column],
                             "target": self.encode_labels(frame, self.label_column, self.spec.train_csv)})  # fmt: skip

    def strata(self) -> np.ndarray | None:
        return self.train_table["label"].to_numpy() if self.classifies else None

    @functools.cached_property
    def test_table(self) -> pd.DataFrame:
        return pd.DataFrame({"id": self.raw_test[self.spec.id_column]})

    # ---- features ----------------------------------------------------------------------
    @functools.cached_property
    def roles(self) -> dict[str, str]:
        features = self.raw_train.drop(columns=[self.spec.id_column, self.label_column])
        roles = infer_roles(features, self.config)
        info(f"features: {role_summary(roles)} columns ({self.spec.train_csv})")
        return roles

    @functools.cached_property
    def typed(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(train, test) parsed by role; nothing fitted yet. Infinite numbers are missing values (said once)."""
        for name, frame in ((self.spec.train_csv, self.raw_train), (self.test_csv, self.raw_test)):
            for column, count in infinite_counts(frame, self.roles).items():
                warn(f"{self.data_dir / name}: column {column!r} has {count} infinite value{'s' if count > 1 else ''}; "
                     "read as missing")  # fmt: skip
        return (
            typed_frame(self.raw_train, self.roles, self.config.text_features),
            typed_frame(self.raw_test, self.roles, self.config.text_features),
        )

    @functools.cached_property
    def model_target(self) -> np.ndarray:
        """What the models learn per training row: the log of the target (``spec.log_scale``), the target
        as it is (other regressions), or the class index."""
        target = self.train_table["target"].to_numpy()
        if self.classifies:
            return target.astype(np.int64)
        return np.log(target.astype(float)) if self.spec.log_scale else target.astype(float)

    def to_output(self, predictions: np.ndarray) -> np.ndarray:
        """A model's predictions (model_target's scale) as the competition's values: prices again, or
        class probabilities as they are."""
        return np.exp(predictions) if self.spec.log_scale else predictions

    @property
    def target_type(self) -> str:
        if not self.classifies:
            return "continuous"
        return "binary" if len(self.class_names) == 2 else "multiclass"

    def fold_features(self, encoding: str = "onehot") -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Features of every training row and of the test set, with the preprocessing of ``encoding`` (the
        model family's: ``onehot``, or ``native`` for trees) fitted on the current fold's training rows, and
        the log-target scale of those rows (cached per fold). With the fold's saved preprocessing
        (use_fitted_preprocessing, at predict), only the test features are computed, by it."""
        if self.fold is None:
            raise RuntimeError("call set_fold() before asking for features")
        key = (self.fold, encoding)
        if key not in self._fold_cache:
            train_typed, test_typed = self.typed
            if self.fold in self._saved_preprocessors:
                self._fold_cache[key] = (key, None, *self._saved_fold_features(self.fold, test_typed))
            else:
                self._fold_cache[key] = (key, *self._fit_fold_features(train_typed, test_typed, encoding))
        self._fold_features = self._fold_cache[key]
        _, train_x, test_x, scale, _ = self._fold_features
        return train_x, test_x, self.model_target, scale

    def _fit_fold_features(self, train_typed: pd.DataFrame, test_typed: pd.DataFrame, encoding: str) -> tuple:
        rows = self.train_indices()
        y = self.model_target
        config = dataclasses.replace(self.config, encoding=encoding, target_type=self.target_type)
        transformer, fitted_rows = fit_transform(train_typed, self.roles, config, rows, y[rows])
        # The training rows keep their fit_transform features: target encoding is cross-fitted
        # there, so no training row's encoding has seen its own price (transform would use it).
        # Only the other rows (the fold's validation rows) go through transform.
        train_x = np.empty((len(train_typed), fitted_rows.shape[1]), dtype=np.float32)
        train_x[rows] = fitted_rows
        others = np.setdiff1d(np.arange(len(train_typed)), rows)
        if len(others):
            train_x[others] = transformer.transform(train_typed.iloc[others])
        test_x = np.asarray(transformer.transform(test_typed), dtype=np.float32)
        scale = {} if self.classifies else {"target_mean": float(y[rows].mean()), "target_std": float(y[rows].std() or 1.0)}
        transformer.compete_scale_ = scale  # saved with it: predict needs no training row
        return train_x, test_x, scale, transformer

    def _saved_fold_features(self, fold: int, test_typed: pd.DataFrame) -> tuple:
        import joblib

        transformer = joblib.load(self._saved_preprocessors[fold])
        test_x = np.asarray(transformer.transform(test_typed), dtype=np.float32)
        return test_x, dict(transformer.compete_scale_), transformer

    def save_fitted_preprocessing(self, fold_dir: Path) -> None:
        """The current fold's fitted preprocessing (the encoding its model used), for predict: written to
        fold_dir/preprocessor.joblib through a temp file."""
        import joblib

        from competitions.core.artifacts import atomic_path

        with atomic_path(Path(fold_dir) / PREPROCESSOR_FILE) as temporary:
            joblib.dump(self.preprocessor, temporary)

    def use_fitted_preprocessing(self, fold: int, fold_dir: Path) -> None:
        path = Path(fold_dir) / PREPROCESSOR_FILE
        if path.exists():
            self._saved_preprocessors[fold] = path
            self._fold_cache = {key: value for key, value in self._fold_cache.items() if key[0] != fold}

    @property
    def preprocessor(self):
        """The ColumnTransformer fitted on the current fold's training rows (of the last encoding asked for)."""
        if self._fold_features is None or self._fold_features[0][0] != self.fold:
            self.fold_features()
        return self._fold_features[4]

    def model_kwargs(self) -> dict:
        train_x, _, _, scale = self.fold_features()
        width = int(train_x.shape[1])
        if self.classifies:
            return {"num_features": width, "num_classes": len(self.class_names), "class_names": list(self.class_names)}
        return {"num_features": width, **scale, "log_target": self.spec.log_scale}

    # ---- dataloaders -------------------------------------------------------------------
    def _dataset(self, split: str) -> FeatureDataset:
        train_x, test_x, y, _ = self.fold_features()
        if split == "test":
            return FeatureDataset(test_x, np.arange(len(test_x)), None)
        if train_x is None:
            raise RuntimeError("a saved preprocessor predicts the test set only")
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
