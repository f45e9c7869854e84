"""Reruns of a table benchmark with other seeds (new folds, new model seeds, the same data): each run's
rows, then per model the mean, the lowest and highest score and their spread, so a margin can be set
against the noise of a rerun."""

from __future__ import annotations

import numpy as np


def summarise(results: list[list[tuple[str, float]]], metric: str) -> None:
    """``results``: per rerun, (model, score) rows. Prints mean, min, max and spread (max - min) per model."""
    names: list[str] = []
    for rows in results:
        names += [name for name, _ in rows if name not in names]
    print(f"\n{len(results)} reruns (seeds 0..{len(results) - 1}); {metric}:")
    print(f"{'model':<44}{'mean':>9}{'min':>9}{'max':>9}{'spread':>9}{'runs':>6}")
    for name in names:
        scores = np.array([score for rows in results for row, score in rows if row == name], dtype=float)
        print(f"{name:<44}{scores.mean():>9.4f}{scores.min():>9.4f}{scores.max():>9.4f}"
              f"{scores.max() - scores.min():>9.4f}{len(scores):>6}")  # fmt: skip
