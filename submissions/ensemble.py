"""Averaging fold predictions (aligned by id) and turning them into Kaggle's submission format."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from competitions.errors import SubmissionError
from competitions.spec import CompetitionSpec


def average_predictions(
    frames: Sequence[pd.DataFrame],
    columns: Sequence[str],
    weights: Sequence[float] | None = None,
    log_scale: bool = False,
) -> pd.DataFrame:
    """Weighted mean of ``columns`` across frames (``id`` + prediction columns).

    Class probabilities: the arithmetic mean. Prices (``log_scale``): the mean on the log scale,
    as the metric (RMSE of log price) sees them. Rows are aligned by id, in the first frame's
    order; every frame must cover the same ids.
    """
    if not frames:
        raise SubmissionError("no fold predictions to average")
    weights = np.ones(len(frames)) if weights is None else np.asarray(weights, dtype=float)
    base = frames[0]["id"]
    columns = list(columns)
    total = np.zeros((len(base), len(columns)))
    for frame, weight in zip(frames, weights, strict=True):
        aligned = frame.set_index("id").reindex(base)
        if aligned[columns].isna().any().any():
            raise SubmissionError("fold predictions cover different ids; re-run compete predict for every fold")
        values = aligned[columns].to_numpy(dtype=float)
        total += weight * (np.log(values) if log_scale else values)
    mean = total / weights.sum()
    out = pd.DataFrame(np.exp(mean) if log_scale else mean, columns=columns)
    out.insert(0, "id", base.to_numpy())
    return out


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
    elif spec.submission_kind == "probabilities":
        out = pd.DataFrame(values / values.sum(axis=1, keepdims=True), columns=classes)
        out.insert(0, id_col, sample[id_col].to_numpy())
        out = out[list(sample.columns)]
    else:
        raise SubmissionError(f"{spec.slug}: unknown submission kind {spec.submission_kind!r}")
    return out
