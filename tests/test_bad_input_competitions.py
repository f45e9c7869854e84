"""Bad input in the other four competitions: one line naming the file, column or row; nothing written."""

from __future__ import annotations

import pandas as pd
import pytest

from competitions.commands.cli import main
from tests.helpers import error_line, fit

AMES = "house-prices-advanced-regression-techniques"




def _edit(path, change) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("csv", "column", "message"),
    [("train.csv", "SalePrice", "missing column 'SalePrice'"), ("test.csv", "LotArea", "missing column 'LotArea'")],
)
def test_missing_column(competition_dir, workdir, capsys, csv, column, message):
    data = competition_dir(AMES)
    _edit(data / csv, lambda f: f.drop(columns=[column], inplace=True))
    assert fit(AMES, data) == 3
    line = error_line(capsys)
    assert csv in line and message in line
    assert not (workdir / "runs" / AMES / "baseline").exists()


@pytest.mark.parametrize(("value", "shown"), [("0", "'0'"), ("-5", "'-5'"), ("", "missing"), ("cheap", "'cheap'")])
def test_bad_target(competition_dir, workdir, capsys, value, shown):
    data = competition_dir("california-house-prices")
    _edit(data / "train.csv", lambda f: f.__setitem__("Sold Price", f["Sold Price"].where(f.index != 6, value)))
    assert fit("california-house-prices", data) == 3
    line = error_line(capsys)
    assert "train.csv line 8" in line and f"Sold Price is {shown}" in line and "positive" in line
    assert not (workdir / "runs" / "california-house-prices" / "baseline").exists()


def test_duplicate_test_id(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    _edit(data / "test.csv", lambda f: f.__setitem__("Id", f["Id"].where(f.index != 5, f["Id"].iloc[4])))
    assert fit(AMES, data) == 3
    line = error_line(capsys)
    assert "test.csv line 7" in line and "duplicate Id" in line


def test_image_listed_but_absent(competition_dir, workdir, capsys):
    data = competition_dir("classify-leaves")
    (data / "images" / "5.jpg").unlink()
    assert fit("classify-leaves", data) == 3
    line = error_line(capsys)
    assert "train.csv line 7" in line and "'images/5.jpg'" in line and "no image file" in line
    assert not (workdir / "runs" / "classify-leaves" / "baseline").exists()


def test_dog_image_absent_and_duplicate_test_id(competition_dir, workdir, capsys):
    data = competition_dir("dog-breed-identification")
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    (data / "train" / f"{labels['id'].iloc[3]}.jpg").unlink()
    assert fit("dog-breed-identification", data) == 3
    assert "labels.csv line 5" in error_line(capsys)


def test_unknown_breed(competition_dir, workdir, capsys):
    data = competition_dir("dog-breed-identification")
    _edit(data / "labels.csv", lambda f: f.__setitem__("breed", f["breed"].where(f.index != 2, "labradoodle")))
    assert fit("dog-breed-identification", data) == 3
    line = error_line(capsys)
    assert "labels.csv line 4" in line and "'labradoodle'" in line and "120" in line


def test_single_example_label_warns_and_trains(competition_dir, workdir, capsys):
    data = competition_dir("classify-leaves")
    _edit(data / "train.csv", lambda f: f.__setitem__("label", f["label"].where(f.index != 0, "ginkgo_biloba")))
    assert fit("classify-leaves", data) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "train.csv" in warnings[0] and "'ginkgo_biloba' (1)" in warnings[0]
    folds = pd.read_csv(workdir / "runs" / "classify-leaves" / "baseline" / "folds.csv", dtype=str)
    assert len(folds) == 32  # the lone example is in a fold all the same
    run = workdir / "runs" / "classify-leaves" / "baseline"
    assert main(["predict", "classify-leaves", "--run", str(run)]) == 0


def test_tta_is_refused_for_tabular_models(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    assert fit(AMES, data, "--folds", "0") == 0
    assert main(["predict", AMES, "--run", str(workdir / "runs" / AMES / "baseline"), "--tta", "hflip"]) == 1
    assert "no test-time augmentation" in error_line(capsys)
