"""Fold results, out-of-fold predictions and the CV summary (cv.json).

Under DDP Lightning re-runs the whole command in every process, so every rank walks the same
loop; only global rank 0 writes files, and fold predictions are gathered from all ranks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from competitions.core.artifacts import read_json, write_csv, write_json
from competitions.core.errors import DataError
from competitions.core.layout import RunLayout
from competitions.core.metrics import multi_hot, multilabel_decisions
from competitions.core.spec import CompetitionSpec
from submissions.submission_file import FLOAT_FORMAT


def run_fold_count(settings) -> int:
    """How many folds a run trains: k, times R with repeated k-fold (config.yaml or the parsed settings)."""
    return int(settings.get("n_folds")) * max(1, int(settings.get("n_repeats") or 1))


def every_fold(text: str | None) -> bool:
    """Whether a `folds` setting asks for every fold (``all``, the default)."""
    return text is None or str(text).strip().lower() == "all"


def select_folds(text: str | None, n_folds: int) -> list[int]:
    """``"all"`` -> every fold; ``"0,2"`` -> [0, 2]; checked against ``n_folds``."""
    if every_fold(text):
        return list(range(n_folds))
    try:
        chosen = sorted({int(part) for part in str(text).split(",") if part.strip()})
    except ValueError:
        raise DataError(f"`folds` must be 'all' or comma-separated fold numbers like 0,2; got {text!r}") from None
    bad = [k for k in chosen if not 0 <= k < n_folds]
    if bad or not chosen:
        raise DataError(f"`folds` {text}: folds must be between 0 and {n_folds - 1}")
    return chosen


def gather_predictions(outputs: list[dict], key: str = "probs") -> tuple[np.ndarray, np.ndarray]:
    """Concatenate predict_step outputs (``index`` and ``key``) from every process; rows sorted by index."""
    import torch
    import torch.distributed as dist

    index = torch.cat([o["index"] for o in outputs]).cpu().numpy() if outputs else np.zeros(0, int)
    values = torch.cat([o[key] for o in outputs]).float().cpu().numpy() if outputs else np.zeros((0, 0))
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, (index, values))
        parts = [p for p in parts if len(p[0])]
        index = np.concatenate([p[0] for p in parts])
        values = np.concatenate([p[1] for p in parts])
    index, first = np.unique(index, return_index=True)  # sorted, and samplers that pad are de-duplicated
    return index, values[first]


def oof_frame(
    spec: CompetitionSpec, classes: Sequence[str], table: pd.DataFrame, fold: int, index: np.ndarray, preds: np.ndarray
) -> pd.DataFrame:
    """One row per validation example: id, fold, the truth, the prediction (and class probabilities)."""
    rows = table.iloc[index]
    if spec.task == "regression":
        return pd.DataFrame(
            {
                "id": rows["id"].to_numpy(),
                "fold": fold,
                spec.target_column: rows["target"].to_numpy(dtype=float),
                "prediction": np.asarray(preds, dtype=float).reshape(len(index)),
            }
        )
    if spec.multi_label:
        chosen = [" ".join(np.asarray(classes)[row]) for row in multilabel_decisions(preds)]
    else:
        chosen = np.asarray(classes)[preds.argmax(axis=1)]
    frame = pd.DataFrame(
        {
            "id": rows["id"].to_numpy(),
            "fold": fold,
            spec.target_column: rows["label"].to_numpy(),
            "prediction": chosen,
        }
    )
    return pd.concat([frame, pd.DataFrame(preds, columns=list(classes))], axis=1)


def oof_truth_and_predictions(
    spec: CompetitionSpec, classes: Sequence[str], oof: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, predictions) as the metric takes them: class indices and probabilities, or values."""
    if spec.task == "regression":
        return oof[spec.target_column].to_numpy(dtype=float), oof["prediction"].to_numpy(dtype=float)
    lookup = {name: i for i, name in enumerate(classes)}
    if spec.multi_label:  # "cat dog" -> multi-hot over the classes
        return multi_hot(oof[spec.target_column].astype(str), classes), oof[list(classes)].to_numpy(dtype=float)
    # As text: class names that look like numbers ("0", "1") are read back from oof.csv as numbers.
    truth = oof[spec.target_column].astype(str).map(lookup)
    return truth.to_numpy(), oof[list(classes)].to_numpy(dtype=float)


def score_oof(spec: CompetitionSpec, classes: Sequence[str], oof: pd.DataFrame) -> float:
    return spec.metric(*oof_truth_and_predictions(spec, classes, oof))


def read_oof(spec: CompetitionSpec, classes: Sequence[str], layout: RunLayout, folds: Sequence[int]) -> pd.DataFrame:
    """The pooled out-of-fold predictions of ``folds``, ids as written; one row per id: with repeated k-fold
    a row's predictions of every repeat are averaged (values on the log scale for prices) and its ``fold`` is
    its fold of the first repeat (the outer folds a blend is scored nested on)."""
    pooled = pd.concat([pd.read_csv(layout.oof(k), dtype={"id": str}) for k in folds], ignore_index=True)
    if not pooled["id"].duplicated().any():
        return pooled
    return average_repeats(spec, classes, pooled)


def average_repeats(spec: CompetitionSpec, classes: Sequence[str], pooled: pd.DataFrame) -> pd.DataFrame:
    """One row per id of OOF rows predicted by several repeats: the mean prediction, the first-repeat fold."""
    grouped = pooled.groupby("id", sort=False)
    first = grouped.first()
    first["fold"] = grouped["fold"].min()  # repeat r's folds are numbered r*k .. r*k+k-1
    if spec.task == "regression":
        values = np.log(pooled["prediction"]) if spec.log_scale else pooled["prediction"]
        mean = values.groupby(pooled["id"], sort=False).mean()
        first["prediction"] = np.exp(mean) if spec.log_scale else mean
        return first.reset_index()
    columns = list(classes)
    probs = grouped[columns].mean()
    first[columns] = probs
    values = probs.to_numpy(dtype=float)
    if spec.multi_label:
        first["prediction"] = [" ".join(np.asarray(classes)[row]) for row in multilabel_decisions(values)]
    else:
        first["prediction"] = np.asarray(classes)[values.argmax(axis=1)]
    return first.reset_index()


@dataclass
class FoldResult:
    """What one trained fold leaves behind: its OOF predictions and the facts of its training."""

    fold: int
    oof: pd.DataFrame
    best_val: float | None
    epochs: int
    seconds: float
    train_rows: int

    def write(self, spec: CompetitionSpec, classes: Sequence[str], layout: RunLayout) -> dict:
        """fold<k>/oof.csv and fold<k>/metrics.json; returns the metrics."""
        write_csv(layout.oof(self.fold), self.oof, float_format=FLOAT_FORMAT)
        metrics = {
            "fold": self.fold,
            "metric": spec.metric.name,
            "score": score_oof(spec, classes, self.oof),
            "best_val_" + spec.monitor.replace("/", "_"): self.best_val,
            "epochs": self.epochs,
            "train_rows": self.train_rows,
            "val_rows": len(self.oof),
            "seconds": round(self.seconds, 1),
        }
        write_json(layout.fold_metrics(self.fold), metrics)
        return metrics


def summarise_cv(spec: CompetitionSpec, classes: Sequence[str], layout: RunLayout, n_folds: int,
                 n_repeats: int = 1) -> dict:  # fmt: skip
    """Per-fold scores, their mean and std, and the score of the pooled OOF predictions (cv.json; with
    repeated k-fold ``n_folds`` counts every repeat's folds and the pooled predictions are averaged per row)."""
    done = layout.done_folds()
    scores = {str(k): read_json(layout.fold_metrics(k))["score"] for k in done}
    pooled = read_oof(spec, classes, layout, done)
    return write_cv(spec, layout, scores, score_oof(spec, classes, pooled), len(pooled), n_folds, len(done) == n_folds,
                    n_repeats=n_repeats)  # fmt: skip


def write_cv(spec: CompetitionSpec, layout: RunLayout, fold_scores: dict[str, float], oof: float, oof_rows: int,
             n_folds: int, complete: bool, **extra) -> dict:  # fmt: skip
    """cv.json, the one format of a run's and a blend's CV: per-fold scores, mean ± std, the pooled OOF score."""
    values = np.array(list(fold_scores.values()), dtype=float)
    summary = {
        "metric": spec.metric.name,
        "direction": spec.metric.direction,
        "folds": dict(fold_scores),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "oof": oof,
        **extra,
        "oof_rows": oof_rows,
        "n_folds": n_folds,
        "complete": complete,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(layout.cv, summary)
    return summary
