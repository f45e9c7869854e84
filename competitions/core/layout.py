"""Every file name of a competition's runs, in one place (see design.md, "The data flowing through it").

    RUNS_DIR/SLUG/                   folds.csv (shared by every experiment), ledger.jsonl, cache/
    RUNS_DIR/SLUG/EXPERIMENT/        config.yaml, folds.csv, cv.json, submission.csv, calibration.json,
                                     tta.json, ensemble.json, wandb.json, augmented.png
    RUNS_DIR/SLUG/EXPERIMENT/fold<k>/ best.ckpt, last.ckpt, oof.csv, metrics.json, logs/metrics.csv
                                     tables: preprocessor.joblib; trees, linear models: model.joblib
                                     (instead of the checkpoints), LightGBM also booster.txt
    RUNS_DIR/SLUG/EXPERIMENT/test/    fold<k>.csv, manifest.json (the folds, settings and sha256 of each file
                                     that made submission.csv); .incoming-PID/ while a predict runs
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_RUNS_DIR = "runs"
DEFAULT_DATA_DIR = "data"  # a competition's files: DEFAULT_DATA_DIR/SLUG


def competition_dir(runs_dir: str | Path, slug: str) -> Path:
    """RUNS_DIR/SLUG: the experiments of one competition, its shared folds, ledger and image cache."""
    return Path(runs_dir) / slug


def cache_dir(runs_dir: str | Path, slug: str) -> Path:
    """Where decoded images are cached: one rule for every command (RUNS_DIR/SLUG/cache)."""
    return competition_dir(runs_dir, slug).resolve() / "cache"


def shared_folds(runs_dir: str | Path, slug: str) -> Path:
    return competition_dir(runs_dir, slug) / "folds.csv"


def ledger_path(runs_dir: str | Path, slug: str) -> Path:
    return competition_dir(runs_dir, slug) / "ledger.jsonl"


@dataclass(frozen=True)
class RunLayout:
    """Where every artifact of one experiment lives."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of(cls, runs_dir: str | Path, slug: str, experiment: str) -> RunLayout:
        return cls(competition_dir(runs_dir, slug) / experiment)

    @property
    def runs_dir(self) -> Path:
        """RUNS_DIR of this run (its grandparent)."""
        return self.root.resolve().parent.parent

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

    @property
    def calibration(self) -> Path:
        return self.root / "calibration.json"

    @property
    def tta(self) -> Path:
        return self.root / "tta.json"

    @property
    def ensemble(self) -> Path:
        return self.root / "ensemble.json"

    @property
    def wandb_state(self) -> Path:
        return self.root / "wandb.json"

    @property
    def wandb_dir(self) -> Path:
        return self.root / "wandb"

    @property
    def augmented(self) -> Path:
        return self.root / "augmented.png"

    def fold_dir(self, k: int) -> Path:
        return self.root / f"fold{k}"

    def checkpoint(self, k: int, which: str = "best") -> Path:
        return self.fold_dir(k) / f"{which}.ckpt"

    def model_file(self, k: int) -> Path:
        """A tree or linear model's fitted fold (what a checkpoint is to a LightningModule)."""
        return self.fold_dir(k) / "model.joblib"

    def preprocessor(self, k: int) -> Path:
        """A tabular fold's fitted preprocessing (predict transforms the test set with it, no refit)."""
        return self.fold_dir(k) / "preprocessor.joblib"

    def oof(self, k: int) -> Path:
        return self.fold_dir(k) / "oof.csv"

    def fold_metrics(self, k: int) -> Path:
        return self.fold_dir(k) / "metrics.json"

    def fold_log(self, k: int) -> Path:
        """Lightning's CSVLogger file of fold k (save_dir=fold<k>, name="", version="logs")."""
        return self.fold_dir(k) / "logs" / "metrics.csv"

    def test_predictions(self, k: int) -> Path:
        return self.root / "test" / f"fold{k}.csv"

    @property
    def test_manifest(self) -> Path:
        """Which folds' test predictions made submission.csv (written by predict, read by ensemble)."""
        return self.root / "test" / "manifest.json"

    def written_test_predictions(self) -> list[Path]:
        return sorted(self.root.glob("test/fold*.csv"))

    def done_folds(self) -> list[int]:
        """Folds with both metrics.json and oof.csv written (finished)."""
        return sorted(
            int(p.parent.name.removeprefix("fold"))
            for p in self.root.glob("fold*/metrics.json")
            if (p.parent / "oof.csv").exists()
        )
