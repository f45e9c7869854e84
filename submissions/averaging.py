"""Averaging predictions aligned by id: the folds of one run, or the members of an ensemble.

Class probabilities are averaged as they are; prices (``log_scale``) on the log scale, as the
metric (RMSE of log price) sees them, i.e. their weighted geometric mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from competitions.core.errors import SubmissionError


def weighted_mean(values: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray | None = None,
                  log_scale: bool = False) -> np.ndarray:  # fmt: skip
    """The weighted mean of equally shaped arrays (on the log scale when ``log_scale``)."""
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=float)
    stacked = np.stack([np.log(v) if log_scale else np.asarray(v, dtype=float) for v in values])
    mean = np.tensordot(weights, stacked, axes=1) / weights.sum()
    return np.exp(mean) if log_scale else mean


def average_predictions(
    frames: Sequence[pd.DataFrame],
    columns: Sequence[str],
    weights: Sequence[float] | None = None,
    log_scale: bool = False,
) -> pd.DataFrame:
    """Weighted mean of ``columns`` across frames (``id`` + prediction columns).

    Rows are aligned by id, in the first frame's order; every frame must cover the same ids.
    """
    if not frames:
        raise SubmissionError("no fold predictions to average")
    base = frames[0]["id"]
    columns = list(columns)
    values = []
    for frame in frames:
        aligned = frame.set_index("id").reindex(base)
        if aligned[columns].isna().any().any():
            raise SubmissionError("fold predictions cover different ids; re-run compete predict for every fold")
        values.append(aligned[columns].to_numpy(dtype=float))
    out = pd.DataFrame(weighted_mean(values, weights, log_scale), columns=columns)
    out.insert(0, "id", base.to_numpy())
    return out
