"""Check a submission CSV the way Kaggle would, before a daily submission is spent on it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from competitions.core.errors import SubmissionError
from competitions.core.spec import CompetitionSpec


def read_submission_csv(path: str | Path) -> pd.DataFrame:
    """Everything as strings, so ids keep their exact spelling and empty cells stay visible."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise SubmissionError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SubmissionError(f"{path}: not a readable CSV ({err})") from None


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    lines = [str(i + 2) for i in np.flatnonzero(mask)[:limit]]  # +2: header, 1-based
    more = f" and {int(mask.sum()) - limit} more" if mask.sum() > limit else ""
    return f"line{'s' if len(lines) > 1 else ''} {', '.join(lines)}{more}"


def validate_submission(
    spec: CompetitionSpec,
    submission: pd.DataFrame,
    sample: pd.DataFrame,
    name: str,
    classes: Sequence[str] | None = None,
) -> None:
    """Raise SubmissionError naming the first offending rows; return None when Kaggle would accept it.

    ``classes``: the known labels (default: the competition's; classify-leaves reads them from train.csv).
    """
    classes = tuple(spec.classes if classes is None else classes)
    check_rows(spec, submission, sample, name)
    values = submission.drop(columns=[spec.id_column])
    empty = (values.apply(lambda c: c.str.strip() == "")).any(axis=1).to_numpy()
    if empty.any():
        raise SubmissionError(f"{name}: missing values at {_rows(empty)}")
    if spec.submission_kind in ("label", "labels"):
        check_labels(spec, submission, name, classes)
    else:
        check_numbers(spec, values, name)


def check_rows(spec: CompetitionSpec, submission: pd.DataFrame, sample: pd.DataFrame, name: str) -> None:
    """The sample's columns, rows and ids in its order; not the sample itself."""
    if list(submission.columns) != list(sample.columns):
        raise SubmissionError(
            f"{name}: columns {list(submission.columns)[:8]} differ from the sample submission's {list(sample.columns)[:8]}"
        )
    if len(submission) != len(sample):
        raise SubmissionError(f"{name}: {len(submission)} rows, the sample submission has {len(sample)}")
    id_col = spec.id_column
    wrong_id = submission[id_col].to_numpy() != sample[id_col].to_numpy()
    if wrong_id.any() and sorted(submission[id_col]) == sorted(sample[id_col]):
        first = int(np.flatnonzero(wrong_id)[0])
        raise SubmissionError(
            f"{name}: the ids are the sample submission's, in another order (line {first + 2}: "
            f"{submission[id_col].iloc[first]!r}, the sample has {sample[id_col].iloc[first]!r}); Kaggle matches rows by "
            "id, but write them in the sample's order to be safe"
        )
    if wrong_id.any():
        first = int(np.flatnonzero(wrong_id)[0])
        raise SubmissionError(
            f"{name}: ids differ from the sample submission's at {_rows(wrong_id)} "
            f"(line {first + 2}: {submission[id_col].iloc[first]!r}, expected {sample[id_col].iloc[first]!r})"
        )
    if submission.equals(sample):
        raise SubmissionError(
            f"{name}: identical to the sample submission (a placeholder); it would spend a daily submission on a "
            "baseline score"
        )


def check_labels(spec: CompetitionSpec, submission: pd.DataFrame, name: str, classes: tuple[str, ...]) -> None:
    """A known class per row (label), or space-separated known classes (labels: multi-label)."""
    column = submission[spec.target_column]
    known = set(classes)
    if spec.submission_kind == "label":
        unknown = (~column.isin(classes)).to_numpy()
        bad_name = lambda text: text  # noqa: E731
    else:
        unknown = np.array([any(n not in known for n in str(text).split()) for text in column])
        bad_name = lambda text: next(n for n in str(text).split() if n not in known)  # noqa: E731
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise SubmissionError(f"{name}: unknown {spec.target_column} {bad_name(column.iloc[first])!r} at {_rows(unknown)} "
                              f"(known: {', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''})")  # fmt: skip


def check_numbers(spec: CompetitionSpec, values: pd.DataFrame, name: str) -> None:
    """Finite numbers; probabilities in [0, 1] (summing to 1 across classes); positive values for log metrics."""
    numbers = values.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers).all(axis=1)
    if bad.any():
        raise SubmissionError(f"{name}: non-numeric, NaN or infinite values at {_rows(bad)}")
    if spec.submission_kind in ("probabilities", "probability"):
        outside = ((numbers < 0) | (numbers > 1)).any(axis=1)
        if outside.any():
            raise SubmissionError(f"{name}: probabilities outside [0, 1] at {_rows(outside)}")
        off = np.abs(numbers.sum(axis=1) - 1) > 1e-3
        if spec.submission_kind == "probabilities" and off.any():
            raise SubmissionError(f"{name}: probabilities do not sum to 1 at {_rows(off)}")
    elif spec.submission_kind == "value" and spec.log_scale:
        nonpositive = (numbers <= 0).any(axis=1)
        if nonpositive.any():
            raise SubmissionError(f"{name}: non-positive predictions at {_rows(nonpositive)} (the metric takes logs)")


def validate_file(
    spec: CompetitionSpec, path: str | Path, sample_path: str | Path, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    submission = read_submission_csv(path)
    sample = read_submission_csv(sample_path)
    validate_submission(spec, submission, sample, str(path), classes)
    return submission
