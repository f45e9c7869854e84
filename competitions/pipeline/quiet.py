"""Library messages that say nothing about the user's run, dropped before each fit and predict."""

from __future__ import annotations

import logging
import warnings


class NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_library_noise() -> None:
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # Device augmentation's index batches: an IterableDataset with a length, loaded without workers.
    warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined.*")
    # Each fold directory holds its logs beside the checkpoints; that is by design.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoAdverts) for f in logger.filters):
            logger.addFilter(NoAdverts())
