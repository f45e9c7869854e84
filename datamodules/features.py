"""Tabular features from a Kaggle CSV: column roles by general rules (overridable in the config),
a stateless typing step, and a scikit-learn preprocessor fitted on one fold's training rows.

Roles:
  numeric      numbers; also text columns that are mostly numbers ("3", "$1,200"): the words become missing
  date         ISO or m/d/y dates -> days since 1970, and month of year
  categorical  few distinct values -> one-hot, rare and unseen categories pooled, missing its own category
  high_card    many distinct values (zip codes, cities, schools) -> cross-fitted target encoding (one column)
  multi_label  comma-separated lists ("Dishwasher, Range / Oven") -> multi-hot of the most frequent items
  text         free text and per-row identifiers (addresses, descriptions) -> dropped, or length features
Only ``typed_frame`` looks at a row at a time (parsing); everything fitted sees the training fold only.

Two encodings, one per model family: ``onehot`` (MLP, linear models: scaled numbers, one-hot and
target-encoded categories, missing-value indicators) and ``native`` (gradient-boosted trees: numbers
as they are with their missing values, every category as one integer-coded column the booster
splits on natively, rare and unseen categories pooled).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    StandardScaler,
    TargetEncoder,
)

ROLES = ("numeric", "date", "categorical", "high_card", "multi_label", "text")
MISSING = "__missing__"
_NUMBER = re.compile(r"^\s*\$?\s*([-+]?\d[\d,]*\.?\d*)\s*$")
_DATE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})")


@dataclass
class FeatureConfig:
    """Explicit roles win; every other column gets one by the general rules below."""

    drop: Sequence[str] = ()
    numeric: Sequence[str] = ()
    date: Sequence[str] = ()
    categorical: Sequence[str] = ()
    high_card: Sequence[str] = ()
    multi_label: Sequence[str] = ()
    text: Sequence[str] = ()
    text_features: bool = False  # text columns: False drops them, True keeps their length and word count
    max_onehot: int = 30  # a categorical column with more distinct values is target-encoded
    min_frequency: int = 5  # rarer categories (and unseen ones) share one "infrequent" column
    top_items: int = 20  # multi-label columns: the most frequent items kept
    scaling: str = "log"  # numeric columns: quantile (to a normal), log (signed log1p), skew (log1p of skewed ones), standard
    encoding: str = "onehot"  # onehot (MLP, linear models) or native (trees: integer-coded categories)
    skew_threshold: float = 0.75  # scaling "skew": columns whose |skewness| on the fold exceeds this get log1p
    seed: int = 0
    target_type: str = "continuous"  # of target encoding: continuous (regression), binary or multiclass
    roles: dict[str, str] = field(default_factory=dict)  # filled by infer_roles


def parse_numbers(values: pd.Series) -> pd.Series:
    """'3' -> 3.0, '$1,200' -> 1200.0, 'Walk-in Closets' -> NaN; 'inf' (not a finite number) -> NaN."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float).replace([np.inf, -np.inf], np.nan)
    extracted = values.astype("string").str.extract(_NUMBER, expand=False).str.replace(",", "", regex=False)
    return pd.to_numeric(extracted, errors="coerce").astype(float)


_INTEGRAL = re.compile(r"^([-+]?\d+)\.0*$")


def category_codes(values: pd.Series) -> pd.Series:
    """Categories as text, the same whichever way pandas typed the column: a numeric code column with
    one blank cell is read as floats ('60.0') in one file and as integers ('60') in the other, so
    integral numbers are written without their '.0'. Blank -> MISSING."""
    as_text = values.astype("string").str.strip().str.replace(_INTEGRAL, r"\1", regex=True)
    return as_text.fillna(MISSING).replace("", MISSING).astype(object)


def infinite_counts(frame: pd.DataFrame, roles: dict[str, str]) -> dict[str, int]:
    """Numeric columns holding inf or -inf, with how many."""
    counts = {}
    for column, role in roles.items():
        if role == "numeric" and column in frame and pd.api.types.is_numeric_dtype(frame[column]):
            count = int(np.isinf(frame[column].to_numpy(dtype=float)).sum())
            if count:
                counts[column] = count
    return counts


def parse_dates(values: pd.Series) -> pd.DataFrame:
    """Days since 1970-01-01 and month (1-12); unparseable -> NaN."""
    stamps = pd.to_datetime(values.astype("string"), errors="coerce", format="mixed")
    days = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
    return pd.DataFrame({"days": days.astype(float), "month": stamps.dt.month.astype(float)}, index=values.index)


def infer_role(values: pd.Series, config: FeatureConfig) -> str:
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    present = values.dropna().astype(str)
    present = present[present.str.strip() != ""]
    if present.empty:
        return "categorical"
    sample = present.sample(min(len(present), 2000), random_state=0) if len(present) > 2000 else present
    if sample.str.match(_NUMBER).mean() >= 0.5:
        return "numeric"
    if sample.str.match(_DATE).mean() >= 0.9:
        return "date"
    if sample.str.contains(", ", regex=False).mean() >= 0.2:
        items = sample.str.split(",").explode().str.strip()
        if items.nunique() < 0.5 * sample.nunique():  # a vocabulary of items, recombined
            return "multi_label"
    unique_ratio = present.nunique() / len(present)
    if unique_ratio > 0.5 and present.str.len().mean() > 12:
        return "text"  # descriptions, addresses: nearly one value per row
    return "categorical" if present.nunique() <= config.max_onehot else "high_card"


def infer_roles(frame: pd.DataFrame, config: FeatureConfig) -> dict[str, str]:
    """Column -> role for every feature column of ``frame``."""
    explicit = {}
    for role in ROLES:
        for column in getattr(config, role):
            explicit[column] = role
    roles = {}
    for column in frame.columns:
        if column in config.drop:
            continue
        roles[column] = explicit.get(column) or infer_role(frame[column], config)
    return roles


def typed_frame(frame: pd.DataFrame, roles: dict[str, str], text_features: bool = False) -> pd.DataFrame:
    """Parse every column by its role (row by row, nothing fitted): numbers, dates, strings, lists."""
    out = {}
    for column, role in roles.items():
        values = frame[column]
        if role == "numeric":
            out[column] = parse_numbers(values)
        elif role == "date":
            dates = parse_dates(values)
            out[f"{column} (days)"] = dates["days"]
            out[f"{column} (month)"] = dates["month"]
        elif role in ("categorical", "high_card"):
            out[column] = category_codes(values)
        elif role == "multi_label":
            out[column] = values.astype("string").fillna("").astype(object)
        elif role == "text" and text_features:
            as_text = values.astype("string").fillna("")
            out[f"{column} (chars)"] = as_text.str.len().astype(float)
            out[f"{column} (words)"] = as_text.str.split().str.len().fillna(0).astype(float)
    return pd.DataFrame(out, index=frame.index)


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|): long-tailed amounts become roughly normal, and a price proportional to
    an amount stays linear in its log."""
    return np.sign(x) * np.log1p(np.abs(x))


class SkewedLog1p(TransformerMixin, BaseEstimator):
    """signed log1p of the columns whose skewness on the fitted rows exceeds ``threshold`` (areas, prices,
    counts with long tails), the rest unchanged: the classic Ames recipe for linear models."""

    def __init__(self, threshold: float = 0.75) -> None:
        self.threshold = threshold

    def fit(self, x, y=None):
        values = np.asarray(x, dtype=float)
        self.n_features_in_ = values.shape[1]
        self.skewed_ = np.abs(np.nan_to_num(pd.DataFrame(values).skew().to_numpy())) > self.threshold
        return self

    def transform(self, x):
        values = np.array(x, dtype=float)
        values[:, self.skewed_] = signed_log1p(values[:, self.skewed_])
        return values

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)], dtype=object)


def split_items(text: str) -> list[str]:
    return [item.strip().lower() for item in text.split(",") if item.strip()]


def build_preprocessor(
    typed: pd.DataFrame, roles: dict[str, str], config: FeatureConfig, n_rows: int = 1000
) -> ColumnTransformer:
    """The transformer to fit on ``n_rows`` training rows of one fold (``typed`` only names the columns)."""
    if config.encoding == "native":
        return build_native_preprocessor(typed, roles, config)
    numeric = [c for c in typed.columns if pd.api.types.is_numeric_dtype(typed[c])]
    categorical = [c for c, r in roles.items() if r == "categorical"]
    high_card = [c for c, r in roles.items() if r == "high_card"]
    multi_label = [c for c, r in roles.items() if r == "multi_label"]
    if config.scaling == "quantile":
        scaler = QuantileTransformer(
            output_distribution="normal", n_quantiles=min(200, n_rows), random_state=config.seed
        )
    elif config.scaling == "log":
        scaler = make_pipeline(FunctionTransformer(signed_log1p, feature_names_out="one-to-one"), StandardScaler())
    elif config.scaling == "skew":
        scaler = make_pipeline(SkewedLog1p(config.skew_threshold), StandardScaler())
    else:
        scaler = StandardScaler()
    parts = []
    if numeric:
        parts.append(
            ("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), scaler), numeric)
        )
        parts.append(("missing", MissingIndicator(features="missing-only", error_on_new=False), numeric))
    if categorical:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=config.min_frequency, sparse_output=False
        )
        parts.append(("categorical", encoder, categorical))
    if high_card:
        folds = KFold(5, shuffle=True, random_state=config.seed)  # cross-fitted: a row never sees its own target
        encoder = TargetEncoder(target_type=config.target_type, cv=folds)
        parts.append(("high_card", make_pipeline(encoder, StandardScaler()), high_card))
    parts += [multi_hot(column, config) for column in multi_label]
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=True)


def multi_hot(column: str, config: FeatureConfig):
    vectorizer = CountVectorizer(
        tokenizer=split_items, token_pattern=None, lowercase=False, binary=True, max_features=config.top_items
    )
    return (f"items:{column}", make_pipeline(FunctionTransformer(np.ravel), vectorizer), [column])


def build_native_preprocessor(typed: pd.DataFrame, roles: dict[str, str], config: FeatureConfig) -> ColumnTransformer:
    """For trees: numbers untouched (missing stays missing), categories (and high-cardinality ones) as
    integer codes (``native_categorical_columns`` says which outputs they are), multi-label lists multi-hot."""
    numeric = [c for c in typed.columns if pd.api.types.is_numeric_dtype(typed[c])]
    categories = [c for c, r in roles.items() if r in ("categorical", "high_card")]
    parts = []
    if numeric:
        parts.append(("numeric", "passthrough", numeric))
    if categories:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                 min_frequency=config.min_frequency, dtype=np.float32)  # fmt: skip
        parts.append(("category", encoder, categories))
    parts += [multi_hot(column, config) for column, role in roles.items() if role == "multi_label"]
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=True)


def native_categorical_columns(transformer: ColumnTransformer) -> list[int]:
    """Output positions of a fitted native preprocessor that hold category codes (-1: unseen)."""
    where = transformer.output_indices_.get("category", slice(0, 0))
    return list(range(where.start, where.stop))


def fit_transform(
    typed: pd.DataFrame,
    roles: dict[str, str],
    config: FeatureConfig,
    train_rows: np.ndarray,
    y_train: np.ndarray,
) -> tuple[ColumnTransformer, np.ndarray]:
    """Fit on ``train_rows`` of ``typed`` (target: ``y_train``); return the transformer and their features."""
    transformer = build_preprocessor(typed, roles, config, len(train_rows))
    features = transformer.fit_transform(typed.iloc[train_rows], y_train)
    return transformer, np.asarray(features, dtype=np.float32)


def role_summary(roles: dict[str, str]) -> str:
    counts = pd.Series(roles).value_counts()
    return ", ".join(f"{counts[r]} {r}" for r in ROLES if r in counts)
