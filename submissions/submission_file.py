"""Kaggle's submission format: predictions (aligned by id) -> the sample submission's rows and columns,
written atomically, and validated from the bytes on disk before anyone may upload them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from competitions.core.artifacts import atomic_path
from competitions.core.errors import SubmissionError
from competitions.core.metrics import multilabel_decisions
from competitions.core.spec import CompetitionSpec
from submissions.validate import read_submission_csv, validate_submission

# Probabilities and prices are written with 8 significant digits (enough for log loss, compact).
FLOAT_FORMAT = "%.8g"


def to_submission(
    spec: CompetitionSpec, preds: pd.DataFrame, sample: pd.DataFrame, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Kaggle's format, in the sample submission's row and column order, ids written as given.

    ``preds``: ``id`` + one probability column per class, or ``id`` + ``prediction`` (regression).
    """
    id_col = spec.id_column
    aligned = preds.set_index("id").reindex(sample[id_col])
    classes = list(spec.classes if classes is None else classes)
    columns = classes if spec.submission_kind != "value" else ["prediction"]
    if aligned[columns].isna().any().any():
        missing = aligned.index[aligned[columns].isna().any(axis=1)][:5]
        raise SubmissionError(f"no prediction for test ids {', '.join(map(str, missing))}")
    values = aligned[columns].to_numpy(dtype=float)
    if spec.submission_kind == "value":
        return pd.DataFrame({id_col: sample[id_col].to_numpy(), spec.target_column: values[:, 0]})
    if spec.submission_kind == "label":
        out = pd.DataFrame(
            {id_col: sample[id_col].to_numpy(), spec.target_column: np.asarray(classes)[values.argmax(axis=1)]}
        )
    elif spec.submission_kind == "labels":  # multi-label: the chosen classes, space-separated
        names = np.asarray(classes)
        out = pd.DataFrame({id_col: sample[id_col].to_numpy(),
                            spec.target_column: [" ".join(names[row]) for row in multilabel_decisions(values)]})  # fmt: skip
    elif spec.submission_kind == "probability":  # a binary task's one column: the positive (second) class's
        out = pd.DataFrame({id_col: sample[id_col].to_numpy(),
                            spec.target_column: values[:, 1] / values.sum(axis=1)})  # fmt: skip
    elif spec.submission_kind == "probabilities":
        out = pd.DataFrame(values / values.sum(axis=1, keepdims=True), columns=classes)
        out.insert(0, id_col, sample[id_col].to_numpy())
        out = out[list(sample.columns)]
    else:
        raise SubmissionError(f"{spec.slug}: unknown submission kind {spec.submission_kind!r}")
    return out


def write_submission(
    spec: CompetitionSpec, preds: pd.DataFrame, sample: pd.DataFrame, path: str | Path, classes: Sequence[str]
) -> pd.DataFrame:
    """Write ``preds`` (``id`` + prediction columns) as Kaggle's CSV at ``path`` and validate the written
    bytes against ``sample``; on any failure nothing replaces ``path``. Returns the submission."""
    submission = to_submission(spec, preds, sample, classes)
    with atomic_path(path) as tmp:
        submission.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)
        # Validate the bytes that will be uploaded, not the in-memory frame.
        try:
            validate_submission(spec, read_submission_csv(tmp), sample, "the predictions", classes)
        except SubmissionError as err:
            raise SubmissionError(f"{err}; {path} was not written") from None
    return submission
