"""The k-fold loop behind `compete fit`: one fresh Trainer per fold, artifacts as in design.md.

Under DDP Lightning re-runs the whole command in every process, so every rank walks the same
loop; only global rank 0 writes files, and fold predictions are gathered from all ranks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competitions.artifacts import read_json, write_csv, write_json
from competitions.spec import CompetitionSpec


def global_rank() -> int:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def is_global_zero() -> bool:
    return global_rank() == 0


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


PROBABILITY_FORMAT = "%.8g"


def progress_bar():
    """Lightning's rich progress bar, without the logger's version number (always "logs" here)."""
    from lightning.pytorch.callbacks import RichProgressBar

    class ProgressBar(RichProgressBar):
        def get_metrics(self, trainer, pl_module):
            metrics = super().get_metrics(trainer, pl_module)
            metrics.pop("v_num", None)
            return metrics

    return ProgressBar()


@dataclass
class RunLayout:
    """Where every artifact of one experiment lives (see design.md)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def folds(self) -> Path:
        return self.root / "folds.csv"

    @property
    def cv(self) -> Path:
        return self.root / "cv.json"

    @property
    def submission(self) -> Path:
        return self.root / "submission.csv"

    def fold_dir(self, k: int) -> Path:
        return self.root / f"fold{k}"

    def test_predictions(self, k: int) -> Path:
        return self.root / "test" / f"fold{k}.csv"

    def done_folds(self) -> list[int]:
        return sorted(
            int(p.parent.name.removeprefix("fold"))
            for p in self.root.glob("fold*/metrics.json")
            if (p.parent / "oof.csv").exists()
        )


def prediction_columns(spec: CompetitionSpec, classes: Sequence[str]) -> list[str]:
    """The prediction columns of oof.csv and test/fold<k>.csv: one per class, or ``prediction``."""
    return list(classes) if spec.task == "classification" else ["prediction"]


def prediction_key(spec: CompetitionSpec) -> str:
    """The key of ``predict_step``'s output holding the predictions."""
    return "probs" if spec.task == "classification" else "value"


def oof_frame(
    spec: CompetitionSpec,
    classes: Sequence[str],
    table: pd.DataFrame,
    fold: int,
    index: np.ndarray,
    preds: np.ndarray,
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
    frame = pd.DataFrame(
        {
            "id": rows["id"].to_numpy(),
            "fold": fold,
            spec.target_column: rows["label"].to_numpy(),
            "prediction": np.asarray(classes)[preds.argmax(axis=1)],
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
    return oof[spec.target_column].map(lookup).to_numpy(), oof[list(classes)].to_numpy(dtype=float)


def score_oof(spec: CompetitionSpec, classes: Sequence[str], oof: pd.DataFrame) -> float:
    return spec.metric(*oof_truth_and_predictions(spec, classes, oof))


def read_oof(layout: RunLayout, folds: Sequence[int]) -> pd.DataFrame:
    """The pooled out-of-fold predictions of ``folds``, ids as written."""
    return pd.concat([pd.read_csv(layout.fold_dir(k) / "oof.csv", dtype={"id": str}) for k in folds])


def write_fold_results(
    spec: CompetitionSpec,
    classes: Sequence[str],
    layout: RunLayout,
    fold: int,
    oof: pd.DataFrame,
    best_val: float | None,
    epochs: int,
    seconds: float,
    train_rows: int,
) -> dict:
    fold_dir = layout.fold_dir(fold)
    write_csv(fold_dir / "oof.csv", oof, float_format=PROBABILITY_FORMAT)
    metrics = {
        "fold": fold,
        "metric": spec.metric.name,
        "score": score_oof(spec, classes, oof),
        "best_val_" + spec.monitor.replace("/", "_"): best_val,
        "epochs": epochs,
        "train_rows": train_rows,
        "val_rows": len(oof),
        "seconds": round(seconds, 1),
    }
    write_json(fold_dir / "metrics.json", metrics)
    return metrics


def summarise_cv(spec: CompetitionSpec, classes: Sequence[str], layout: RunLayout, n_folds: int) -> dict:
    """Per-fold scores, their mean and std, and the score of the pooled OOF predictions."""
    done = layout.done_folds()
    scores = {k: read_json(layout.fold_dir(k) / "metrics.json")["score"] for k in done}
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
