"""Fold averaging, submission formatting and the validator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from competitions.catalog import COMPETITIONS
from competitions.core.errors import SubmissionError
from submissions.averaging import average_predictions
from submissions.submission_file import to_submission
from submissions.validate import validate_file, validate_submission

CIFAR10 = COMPETITIONS["cifar-10"]
CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes

CLASSES = list(CIFAR10_CLASSES)


def _probs(ids, seed):
    p = np.random.default_rng(seed).dirichlet(np.ones(10), size=len(ids))
    frame = pd.DataFrame(p, columns=CLASSES)
    frame.insert(0, "id", ids)
    return frame


def test_average_aligns_rows_by_id():
    a = _probs(["1", "2", "3"], 0)
    b = _probs(["3", "1", "2"], 1)
    mean = average_predictions([a, b], CLASSES)
    assert mean["id"].tolist() == ["1", "2", "3"]
    expected = (a.set_index("id")[CLASSES] + b.set_index("id").loc[["1", "2", "3"], CLASSES]) / 2
    np.testing.assert_allclose(mean[CLASSES].to_numpy(), expected.to_numpy())
    with pytest.raises(SubmissionError, match="different ids"):
        average_predictions([a, _probs(["1", "2", "9"], 2)], CLASSES)


def test_submission_follows_the_sample_order_and_keeps_ids_as_written():
    sample = pd.DataFrame({"id": ["10", "2", "007"], "label": "cat"})
    probs = _probs(["2", "007", "10"], 3)
    sub = to_submission(CIFAR10, probs, sample)
    assert sub["id"].tolist() == ["10", "2", "007"]
    assert sub["label"].tolist() == [
        CLASSES[i] for i in probs.set_index("id").loc[sample["id"], CLASSES].to_numpy().argmax(1)
    ]
    with pytest.raises(SubmissionError, match="no prediction for test ids 10"):
        to_submission(CIFAR10, probs[probs["id"] != "10"], sample)


SAMPLE = pd.DataFrame({"id": ["1", "2", "3", "4"], "label": ["cat"] * 4})


def _good():
    return pd.DataFrame({"id": ["1", "2", "3", "4"], "label": ["dog", "ship", "cat", "frog"]})


def test_a_good_submission_passes():
    validate_submission(CIFAR10, _good(), SAMPLE, "sub.csv")


@pytest.mark.parametrize(
    "breaks, message",
    [
        (lambda s: s.rename(columns={"label": "Label"}), "columns"),
        (lambda s: s[["label", "id"]], "columns"),
        (lambda s: s.iloc[:3], "3 rows, the sample submission has 4"),
        (lambda s: s.iloc[[1, 0, 2, 3]].reset_index(drop=True),
         "the ids are the sample submission's, in another order \\(line 2: '2', the sample has '1'\\)"),
        (lambda s: s.assign(id=["1", "9", "3", "4"]), "ids differ .* line 3 .*line 3: '9', expected '2'"),
        (lambda s: s.assign(label=["dog", "", "cat", "frog"]), "missing values at line 3"),
        (lambda s: s.assign(label=["dog", "ship", "cow", "Frog"]), "unknown label 'cow' at lines 4, 5"),
    ],
)
def test_each_rule_names_the_offending_rows(breaks, message):
    with pytest.raises(SubmissionError, match=message):
        validate_submission(CIFAR10, breaks(_good()), SAMPLE, "sub.csv")


def test_validate_file_reads_ids_as_text(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("id,label\n01,cat\n2,cat\n")
    sub = tmp_path / "sub.csv"
    sub.write_text("id,label\n1,dog\n2,cat\n")
    with pytest.raises(SubmissionError, match="'1', expected '01'"):
        validate_file(CIFAR10, sub, sample)
    with pytest.raises(SubmissionError, match="file not found"):
        validate_file(CIFAR10, tmp_path / "none.csv", sample)


def test_a_copy_of_the_sample_submission_is_refused():
    with pytest.raises(SubmissionError, match="identical to the sample submission"):
        validate_submission(CIFAR10, SAMPLE.copy(), SAMPLE, "sub.csv")


def _dog_frames():
    from competitions.catalog import COMPETITIONS
    DOG_BREEDS = COMPETITIONS["dog-breed-identification"].classes

    sample = pd.DataFrame({"id": ["0a1", "0b2", "0c3"], **{b: [f"{1 / 120:.8f}"] * 3 for b in DOG_BREEDS}})
    good = sample.copy()
    good[list(DOG_BREEDS)] = "0"
    for i, breed in enumerate(DOG_BREEDS[:3]):
        good.loc[i, breed] = "1"
    return sample, good


@pytest.mark.parametrize(
    "breaks, message",
    [
        (lambda s: s.assign(affenpinscher=["1", "0", "nan"]), "non-numeric, NaN or infinite values at line 4"),
        (lambda s: s.assign(affenpinscher=["1", "inf", "0"]), "non-numeric, NaN or infinite values at line 3"),
        (lambda s: s.assign(affenpinscher=["1", "0", "-0.1"]), r"outside \[0, 1\] at line 4"),
        (lambda s: s.assign(affenpinscher=["1", "0.5", "0"]), "do not sum to 1 at line 3"),
        (lambda s: s.drop(columns=["whippet"]), "columns"),
    ],
)
def test_probability_rules(breaks, message):
    from competitions.catalog import COMPETITIONS
    DOG_BREED = COMPETITIONS["dog-breed-identification"]

    sample, good = _dog_frames()
    validate_submission(DOG_BREED, good, sample, "sub.csv")
    with pytest.raises(SubmissionError, match=message):
        validate_submission(DOG_BREED, breaks(good), sample, "sub.csv")


@pytest.mark.parametrize(
    "breaks, message",
    [
        (lambda s: s.assign(SalePrice=["100", "0", "5"]), "non-positive predictions at line 3"),
        (lambda s: s.assign(SalePrice=["100", "cheap", "5"]), "non-numeric, NaN or infinite values at line 3"),
        (lambda s: s.assign(SalePrice=["100", "", "5"]), "missing values at line 3"),
    ],
)
def test_value_rules(breaks, message):
    from competitions.catalog import COMPETITIONS
    AMES = COMPETITIONS["house-prices-advanced-regression-techniques"]

    sample = pd.DataFrame({"Id": ["1461", "1462", "1463"], "SalePrice": ["180921.2"] * 3})
    good = sample.assign(SalePrice=["125000.5", "98000", "310000"])
    validate_submission(AMES, good, sample, "sub.csv")
    with pytest.raises(SubmissionError, match=message):
        validate_submission(AMES, breaks(good), sample, "sub.csv")
