"""The Lightning callbacks `compete` adds to every fold (next to the user's --trainer.callbacks)."""

from __future__ import annotations

from pathlib import Path

from competitions.core.spec import CompetitionSpec


def fold_progress_bar():
    """Lightning's rich progress bar, without the logger's version number (always "logs" here)."""
    from lightning.pytorch.callbacks import RichProgressBar

    class FoldProgressBar(RichProgressBar):
        def get_metrics(self, trainer, pl_module):
            metrics = super().get_metrics(trainer, pl_module)
            metrics.pop("v_num", None)
            return metrics

    return FoldProgressBar()


def fold_checkpoint(spec: CompetitionSpec, fold_dir: Path):
    """best.ckpt (by the competition's monitored validation metric) and last.ckpt in fold<k>/."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=fold_dir,
        filename="best",
        monitor=spec.monitor,
        mode=spec.monitor_mode,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


def early_stopping(spec: CompetitionSpec, patience: int):
    from lightning.pytorch.callbacks import EarlyStopping

    return EarlyStopping(monitor=spec.monitor, mode=spec.monitor_mode, patience=patience)
