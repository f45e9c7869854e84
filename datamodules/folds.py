"""Seeded, stratified k-fold assignment, written once per competition and reused by every run.

Reusing one ``folds.csv`` makes the out-of-fold scores of different experiments comparable
and lets their OOF predictions be blended without leakage. Repeated k-fold (``n_repeats`` R > 1) adds
one column per extra repeat (``fold_r1``, ``fold_r2``, ...: the same k, split anew with seed + r), so
every experiment asking for R repeats gets the same splits; the ``fold`` column never changes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from competitions.core.artifacts import write_csv
from competitions.core.console import warn
from competitions.core.errors import DataError


def make_folds(
    ids: Sequence[str], strata: Sequence | None, n_folds: int, seed: int, source: str = "the training CSV"
) -> pd.DataFrame:
    """Assign each id a fold in ``0..n_folds-1``; stratified on ``strata`` when given.

    A class with fewer examples than folds cannot be in every fold: it is placed anyway and
    named in a warning; when no class has ``n_folds`` examples the split falls back to plain KFold.
    """
    if n_folds < 2:
        raise DataError(f"n_folds must be at least 2, got {n_folds}")
    ids = np.asarray(ids)
    if len(ids) < n_folds:
        raise DataError(f"{source}: cannot split {len(ids)} training rows into {n_folds} folds")
    fold = np.full(len(ids), -1, dtype=int)
    if strata is not None:
        strata = rare_strata_warning(np.asarray(strata), n_folds, source)
    if strata is not None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # A class with fewer members than folds is still placed; sklearn's warning says so.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            splits = splitter.split(ids, np.asarray(strata))
            for k, (_, val_idx) in enumerate(splits):
                fold[val_idx] = k
    else:
        splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for k, (_, val_idx) in enumerate(splitter.split(ids)):
            fold[val_idx] = k
    return pd.DataFrame({"id": ids, "fold": fold})


def rare_strata_warning(strata: np.ndarray, n_folds: int, source: str) -> np.ndarray | None:
    """Warn about classes with fewer examples than folds; None when stratifying is impossible."""
    values, counts = np.unique(strata, return_counts=True)
    rare = [(v, c) for v, c in zip(values, counts, strict=True) if c < n_folds]
    if rare:
        shown = ", ".join(f"{v!r} ({c})" for v, c in rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
        warn(
            f"{source}: {len(rare)} label{'s' if len(rare) > 1 else ''} with fewer examples than the {n_folds} folds: "
            f"{shown}; kept, but such a label is validated in fewer folds (a single example is never trained on "
            "by the fold that validates it)"
        )
    if counts.max() < n_folds:
        warn(f"{source}: no label has {n_folds} examples; the folds are not stratified")
        return None
    return strata


def load_or_create_folds(
    path: str | Path,
    ids: Sequence[str],
    strata: Sequence | None,
    n_folds: int,
    seed: int,
    write: bool = True,
    source: str = "the training CSV",
    n_repeats: int = 1,
) -> pd.DataFrame:
    """Read ``path`` if it exists (checking it matches the data), else create and write it; the columns of
    repeats it lacks are added (and written, keeping the others)."""
    path = Path(path)
    folds = read_folds(path, ids, n_folds, seed) if path.exists() else None
    if folds is None:
        folds = make_folds(ids, strata, n_folds, seed, source)
        if strata is not None:
            folds.insert(2, "stratum", np.asarray(strata))
        folds["seed"] = int(seed)  # what the split was made with: a later run's other seed is named, not ignored
    elif all(repeat_column(r) in folds.columns for r in range(n_repeats)):
        return folds
    folds = add_repeats(folds, n_folds, n_repeats, source)
    if write:
        write_csv(path, folds)
    return folds


def repeat_column(repeat: int) -> str:
    """The folds.csv column of repeat ``repeat`` (0: ``fold``)."""
    return "fold" if repeat == 0 else f"fold_r{repeat}"


def add_repeats(folds: pd.DataFrame, n_folds: int, n_repeats: int, source: str) -> pd.DataFrame:
    """The columns of repeats 1..n_repeats-1 that ``folds`` lacks, split anew with the split's seed + r."""
    if n_repeats < 1:
        raise DataError(f"n_repeats must be at least 1, got {n_repeats}")
    seed = int(folds["seed"].iloc[0]) if "seed" in folds.columns and len(folds) else 0
    strata = folds["stratum"].to_numpy() if "stratum" in folds.columns else None  # in the file's row order
    folds = folds.copy()
    for repeat in range(1, n_repeats):
        column = repeat_column(repeat)
        if column not in folds.columns:
            folds[column] = make_folds(folds["id"], strata, n_folds, seed + repeat, source)["fold"].to_numpy()
    return folds


def read_folds(path: Path, ids: Sequence[str], n_folds: int, seed: int) -> pd.DataFrame:
    """An existing folds.csv, checked against the data and the ``n_folds`` asked for."""
    folds = pd.read_csv(path, dtype={"id": str})
    if list(folds.columns[:2]) != ["id", "fold"]:
        raise DataError(f"{path}: expected columns id,fold; found {','.join(folds.columns)}")
    found = int(folds["fold"].nunique())
    if found != n_folds:
        raise DataError(
            f"{path} splits the data into {found} folds but {n_folds} were asked for; "
            f"set `n_folds` to {found} to stay comparable with earlier runs, or delete {path} to re-split"
        )
    if set(folds["id"]) != set(map(str, ids)):
        changed = len(set(folds["id"]) ^ set(map(str, ids)))
        raise DataError(
            f"{path} was made for a different training set ({changed} ids differ); "
            f"delete it to re-split (earlier runs' OOF scores will no longer be comparable)"
        )
    made_with = folds["seed"].iloc[0] if "seed" in folds.columns and len(folds) else None
    if made_with is not None and int(made_with) != int(seed):
        warn(f"{path}: reused as it is (split with seed {int(made_with)}), so the OOF scores stay comparable "
             f"with the earlier runs; seed {seed} seeds the models only (delete {path} to re-split)")  # fmt: skip
    return folds
