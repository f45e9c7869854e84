"""Averaging fold predictions (aligned by id) and turning them into Kaggle's submission format."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from competitions.errors import SubmissionError
from competitions.spec import CompetitionSpec


def average_probabilities(
    frames: Sequence[pd.DataFrame], classes: Sequence[str], weights: Sequence[float] | None = None
) -> pd.DataFrame:
    """Arithmetic mean of class probabilities across frames (``id`` + one column per class).

    Rows are aligned by id, in the first frame's order; every frame must cover the same ids.
    """
    if not frames:
        raise SubmissionError("no fold predictions to average")
    weights = np.ones(len(frames)) if weights is None else np.asarray(weights, dtype=float)
    base = frames[0]["id"]
    total = np.zeros((len(base), len(classes)))
    for frame, weight in zip(frames, weights, strict=True):
        aligned = frame.set_index("id").reindex(base)
        if aligned[list(classes)].isna().any().any():
            raise SubmissionError("fold predictions cover different ids; re-run compete predict for every fold")
        total += weight * aligned[list(classes)].to_numpy(dtype=float)
    out = pd.DataFrame(total / weights.sum(), columns=list(classes))
    out.insert(0, "id", base.to_numpy())
    return out


def to_submission(spec: CompetitionSpec, probs: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """Kaggle's format, in the sample submission's row and column order, ids written as given."""
    id_col = spec.id_column
    aligned = probs.set_index("id").reindex(sample[id_col])
    classes = list(spec.classes)
    if aligned[classes].isna().any().any():
        missing = aligned.index[aligned[classes].isna().any(axis=1)][:5]
        raise SubmissionError(f"no prediction for test ids {', '.join(map(str, missing))}")
    values = aligned[classes].to_numpy(dtype=float)
    if spec.submission_kind == "label":
        out = pd.DataFrame(
            {id_col: sample[id_col].to_numpy(), spec.target_column: np.asarray(classes)[values.argmax(axis=1)]}
        )
    elif spec.submission_kind == "probabilities":
        out = pd.DataFrame(values / values.sum(axis=1, keepdims=True), columns=classes)
        out.insert(0, id_col, sample[id_col].to_numpy())
        out = out[list(sample.columns)]
    else:
        raise SubmissionError(f"{spec.slug}: submission kind {spec.submission_kind!r} is not built from probabilities")
    return out
