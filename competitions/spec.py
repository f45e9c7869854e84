"""What the project knows about one Kaggle competition: files, columns, metric, submission format."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from competitions.metrics import Metric

CONFIG_ROOT = Path(__file__).resolve().parent / "configs"


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
    # "label": one class name per row; "probabilities": one column per class; "value": a number.
    submission_kind: Literal["label", "probabilities", "value"]
    datamodule: str  # "package.module:ClassName", imported only when needed (keeps `compete list` fast)
    model: str
    monitor: str  # the logged validation metric that picks best.ckpt
    monitor_mode: Literal["min", "max"]
    classes: tuple[str, ...] = ()
    # Archives a user may have left unextracted, with the hint to print when they are found.
    archives: dict[str, str] = field(default_factory=dict)
    url: str = ""

    @property
    def config_dir(self) -> Path:
        return CONFIG_ROOT / self.slug

    def presets(self) -> list[str]:
        return sorted(p.stem for p in self.config_dir.glob("*.yaml"))

    def preset_path(self, name: str) -> Path:
        return self.config_dir / f"{name}.yaml"

    def datamodule_class(self) -> type:
        return _import(self.datamodule)

    def model_class(self) -> type:
        return _import(self.model)

    def summary(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "task": self.task,
            "metric": f"{self.metric.name} ({'higher' if self.metric.direction == 'max' else 'lower'} wins)",
            "id": self.id_column,
            "target": self.target_column,
            "classes": len(self.classes) or ("from data" if self.task == "classification" else "-"),
            "submission": self.submission_kind,
            "presets": ", ".join(self.presets()),
        }


def _import(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
