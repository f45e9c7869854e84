from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from competitions.core.errors import DataError
from competitions.pipeline.oof import select_folds as parse_fold_selection
from datamodules.folds import load_or_create_folds, make_folds


def test_folds_are_seeded_stratified_and_cover_every_row():
    ids = [str(i) for i in range(100)]
    strata = np.repeat(list("abcd"), 25)
    a = make_folds(ids, strata, 5, seed=1)
    assert a.equals(make_folds(ids, strata, 5, seed=1))
    assert not a["fold"].equals(make_folds(ids, strata, 5, seed=2)["fold"])
    assert sorted(a["id"]) == sorted(ids) and set(a["fold"]) == set(range(5))
    # Each fold holds 5 of each class.
    counts = pd.crosstab(a["fold"], strata)
    assert (counts.to_numpy() == 5).all()


def test_unstratified_folds_and_a_rare_class():
    assert set(make_folds(list("abcdef"), None, 3, 0)["fold"]) == {0, 1, 2}
    strata = ["x"] * 9 + ["rare"]
    folds = make_folds([str(i) for i in range(10)], strata, 3, 0)
    assert (folds["fold"] >= 0).all()


def test_folds_file_is_written_once_then_checked(tmp_path):
    path = tmp_path / "folds.csv"
    ids = [f"{i:04x}" for i in range(30)]  # hex ids keep their leading zeros
    first = load_or_create_folds(path, ids, None, 3, seed=0)
    assert pd.read_csv(path, dtype={"id": str})["id"].tolist() == ids
    again = load_or_create_folds(path, ids, None, 3, seed=99)  # a different seed reuses the file
    assert again["fold"].tolist() == first["fold"].tolist()
    with pytest.raises(DataError, match="3 folds but 5 were asked"):
        load_or_create_folds(path, ids, None, 5, seed=0)
    with pytest.raises(DataError, match=r"different training set \(2 ids differ\)"):
        load_or_create_folds(path, ids[:-1] + ["zzzz"], None, 3, seed=0)


def test_fold_selection():
    assert parse_fold_selection("all", 5) == [0, 1, 2, 3, 4]
    assert parse_fold_selection("2,0", 5) == [0, 2]
    for bad in ("5", "-1", "a", ""):
        with pytest.raises(DataError):
            parse_fold_selection(bad, 5)
