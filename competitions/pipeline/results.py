"""Fold results, out-of-fold predictions and the CV summary; the Run and Submission a caller gets back.

Under DDP Lightning re-runs the whole command in every process, so every rank walks the same
loop; only global rank 0 writes files, and fold predictions are gathered from all ranks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competitions.core.artifacts import read_json, write_csv, write_json
from competitions.core.errors import DataError
from competitions.core.layout import RunLayout
from competitions.core.metrics import multi_hot, multilabel_decisions
from competitions.core.spec import CompetitionSpec
from submissions.submission_file import FLOAT_FORMAT


def select_folds(text: str | None, n_folds: int) -> list[int]:
    """``"all"`` -> every fold; ``"0,2"`` -> [0, 2]; checked against ``n_folds``."""
    if text is None or str(text).strip().lower() == "all":
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


def read_oof(layout: RunLayout, folds: Sequence[int]) -> pd.DataFrame:
    """The pooled out-of-fold predictions of ``folds``, ids as written."""
    return pd.concat([pd.read_csv(layout.oof(k), dtype={"id": str}) for k in folds])


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


def summarise_cv(spec: CompetitionSpec, classes: Sequence[str], layout: RunLayout, n_folds: int) -> dict:
    """Per-fold scores, their mean and std, and the score of the pooled OOF predictions (cv.json)."""
    done = layout.done_folds()
    scores = {k: read_json(layout.fold_metrics(k))["score"] for k in done}
    pooled = read_oof(layout, done)
    values = np.array(list(scores.values()))
    summary = {
        "metric": spec.metric.name,
        "direction": spec.metric.direction,
        "folds": {str(k): v for k, v in scores.items()},
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "oof": score_oof(spec, classes, pooled),
        "oof_rows": len(pooled),
        "n_folds": n_folds,
        "complete": len(done) == n_folds,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(layout.cv, summary)
    return summary


@dataclass
class Run:
    """One experiment on disk: ``run.cv`` (per fold, mean, std, pooled OOF), ``run.oof``, ``run.path``."""

    slug: str
    path: Path

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def cv(self) -> dict:
        """cv.json: ``folds`` (fold -> score), ``mean``, ``std``, ``oof`` (score of the pooled OOF predictions)."""
        return read_json(self.layout.cv)

    @property
    def oof(self) -> pd.DataFrame:
        """The pooled out-of-fold predictions of every finished fold (id, fold, truth, prediction, ...)."""
        return read_oof(self.layout, self.layout.done_folds())

    def cv_table(self) -> pd.DataFrame:
        """The CV scores as a table: one row per fold, then mean ± std and pooled OOF."""
        cv = self.cv
        rows = [{"fold": k, cv["metric"]: v} for k, v in cv["folds"].items()]
        rows += [{"fold": "mean", cv["metric"]: cv["mean"]}, {"fold": "std", cv["metric"]: cv["std"]},
                 {"fold": "pooled OOF", cv["metric"]: cv["oof"]}]  # fmt: skip
        return pd.DataFrame(rows).set_index("fold")

    def __repr__(self) -> str:
        if not self.layout.cv.exists():
            return f"Run({self.slug!r}, {str(self.path)!r}, no cv.json yet)"
        cv = self.cv
        return (f"Run({self.slug!r}, {str(self.path)!r}: {cv['metric']} {cv['mean']:.4f} ± {cv['std']:.4f}, "
                f"pooled OOF {cv['oof']:.4f})")  # fmt: skip


@dataclass
class Submission:
    """A written, validated submission CSV: ``path``, the ``frame`` as written, and how it was checked."""

    slug: str
    path: Path
    frame: pd.DataFrame
    validated_against: Path
    details: dict = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Always True: a Submission exists only once its bytes passed validation."""
        return True

    def __repr__(self) -> str:
        return f"Submission({self.slug!r}, {str(self.path)!r}, {len(self.frame)} rows, valid against {self.validated_against})"
