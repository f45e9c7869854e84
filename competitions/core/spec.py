"""What the project knows about one Kaggle competition: files, columns, metric, submission format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from competitions.core.errors import DataError
from competitions.core.metrics import Metric

MAX_CLASS_SHARE = 0.5  # the spec's max_class_share when it sets none
RUNTIME_LIMIT_HOURS = 9.0  # a code competition's notebook limit when the spec sets none (Kaggle's usual)


@dataclass(frozen=True)
class CompetitionSpec:
    slug: str
    title: str
    task: Literal["classification", "regression"]
    metric: Metric
    # Paths (relative to the competition folder) that must exist; a trailing "/" marks a folder.
    expected_files: tuple[str, ...]
    train_csv: str
    id_column: str
    target_column: str
    sample_submission: str
    # "label": one class name per row; "probabilities": one column per class; "probability": a binary
    # task's one column, the probability of the positive class (the second of ``classes``); "labels": a
    # multi-label task's classes, space-separated (each whose probability reaches 0.5, at least one); "value": a number.
    submission_kind: Literal["label", "probabilities", "probability", "labels", "value"]
    # "package.module:ClassName" of the DataModule and the LightningModule: names, not imports, so the
    # catalog stays below the libraries and `compete list` stays fast (the pipeline resolves them).
    datamodule: str
    model: str
    monitor: str  # the logged validation metric that picks best.ckpt
    monitor_mode: Literal["min", "max"]
    classes: tuple[str, ...] = ()
    # Archives a user may have left unextracted, with the hint to print when they are found.
    archives: dict[str, str] = field(default_factory=dict)
    url: str = ""
    config_dir: Path | None = None  # the folder of the YAML presets (set by the catalog)
    # Model families a fit chooses with `family` (name -> "package.module:Class"), e.g. the tabular
    # mlp / lightgbm / ridge; empty: ``model`` is the only one. A family's base preset is NAME.yaml
    # (default.yaml when there is none); _common.yaml, when present, comes before it for every family.
    families: dict[str, str] = field(default_factory=dict)
    # A spec read from a YAML file (compete init, ./competitions.d/): the file, the shape's settings the
    # generic DataModules read (image paths, ...), and the fields still to fill in (fit refuses until then).
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    unfilled: tuple[str, ...] = ()
    # Regression: models learn the log of the target and folds are averaged on the log scale (prices,
    # metrics of logs); False: the target as it is (any sign; RMSE, MAE).
    log_target: bool = True
    # Classification: at most this share of the training rows may be distinct classes (an id or free-text
    # column taken as the label has one class per row; k-fold needs repeats). 1.0 turns the check off.
    max_class_share: float = MAX_CLASS_SHARE
    runtime_limit_hours: float = RUNTIME_LIMIT_HOURS  # code competitions: the inference notebook's limit

    def presets(self) -> list[str]:
        if not self.config_dir:
            return []
        return sorted(p.stem for p in self.config_dir.glob("*.yaml") if not p.stem.startswith("_"))

    def model_path(self, family: str | None = None) -> str:
        """"package.module:Class" of ``family`` (None: the default model)."""
        if not family:
            return self.model
        if family not in self.families:
            choices = ", ".join(self.families) or "none: this competition has one model"
            raise ValueError(f"`family` {family!r} is not a {self.slug} model family (choices: {choices})")
        return self.families[family]

    def base_presets(self, family: str | None = None) -> list[Path]:
        """The preset files every fit of ``family`` starts from: _common.yaml, then NAME.yaml or default.yaml."""
        if self.config_dir is None:
            return []
        own = self.preset_path(family) if family else None
        base = own if own is not None and own.exists() else self.preset_path("default")
        return [p for p in (self.config_dir / "_common.yaml", base) if p.exists()]

    def preset_path(self, name: str) -> Path:
        if self.config_dir is None:
            raise ValueError(f"{self.slug}: no preset folder")
        return self.config_dir / f"{name}.yaml"

    def prediction_columns(self, classes) -> list[str]:
        """The prediction columns of oof.csv and test/fold<k>.csv: one per class, or ``prediction``."""
        return list(classes) if self.task == "classification" else ["prediction"]

    @property
    def prediction_key(self) -> str:
        """The key of a model's ``predict_step`` output holding the predictions."""
        return "probs" if self.task == "classification" else "value"

    @property
    def tabular(self) -> bool:
        """A table (train/test CSVs of features), not images."""
        return self.options.get("shape") == "tabular"

    @property
    def multi_label(self) -> bool:
        """Each row may have several classes (sigmoid outputs, multi-hot targets, space-separated labels)."""
        return self.submission_kind == "labels"

    @property
    def log_scale(self) -> bool:
        """Whether predictions are learnt and averaged on the log scale (prices, scored on their log)."""
        return self.task == "regression" and self.log_target

    def summary(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "task": self.task,
            "metric": "FILL_ME (set it in the spec)" if "metric" in self.unfilled
            else f"{self.metric.name} ({self.metric.better_word} wins)",
            "id": self.id_column,
            "target": self.target_column,
            "classes": len(self.classes) or ("from data" if self.task == "classification" else "-"),
            "submission": self.submission_kind,
            "presets": ", ".join(self.presets()),
        }


def check_class_count(classes: int, rows: int, where: str, column: str, share: float = MAX_CLASS_SHARE,
                      tabular: bool = False) -> None:  # fmt: skip
    """Refuse a classification target with more distinct classes than ``share`` of the rows (an id-like
    column taken as the label: LightGBM crashed on 10,000 classes, the MLP wrote a 695 MB oof.csv per fold)."""
    if rows and classes > max(2, share * rows):
        raise DataError(
            f"{where}: {column} has {classes:,} distinct values in {rows:,} rows ({classes / rows:.0%}); a "
            f"classification target repeats (at most {share:.0%} distinct: max_class_share in the spec); an id or "
            "free-text column? name the target with compete init --target NAME"
            + (", or --task regression for a number" if tabular else "")
        )
