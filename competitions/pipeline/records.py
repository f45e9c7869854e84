"""What a fit and a predict hand back: Run (an experiment on disk) and Submission (a validated CSV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from competitions.core.artifacts import read_json
from competitions.core.layout import RunLayout
from competitions.pipeline.oof import read_oof


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
        """The pooled out-of-fold predictions of every finished fold (id, fold, truth, prediction, ...); one row
        per id (repeated k-fold: averaged over the repeats)."""
        from competitions.catalog import get_competition
        from competitions.core.artifacts import read_yaml
        from competitions.pipeline.factory import class_names

        spec = get_competition(self.slug)
        classes = class_names(spec, read_yaml(self.layout.config)["data_dir"])
        return read_oof(spec, classes, self.layout, self.layout.done_folds())

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
