"""Calibrating class probabilities for log-loss competitions, fitted on out-of-fold predictions.

Log loss punishes a confident mistake without bound, and fine-tuned networks are over-confident.
Temperature scaling (Guo et al., 2017) divides the logits by one number T fitted on held-out
predictions; since softmax(log p / T) = p^(1/T) / sum(p^(1/T)), it works on probabilities
directly. A floor (clip) then bounds the cost of any single mistake; it is chosen on the same
out-of-fold rows, so neither step looks at the test set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from competitions.core.metrics import multiclass_log_loss

CLIP_GRID = (0.0, 1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of ``probs`` as if their logits had been divided by ``temperature``."""
    logp = np.log(np.clip(probs, 1e-30, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    scaled = np.exp(logp)
    return scaled / scaled.sum(axis=1, keepdims=True)


def clip_probabilities(probs: np.ndarray, floor: float) -> np.ndarray:
    """Raise every probability to at least ``floor``, then renormalise each row."""
    if floor <= 0:
        return probs
    clipped = np.clip(probs, floor, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, y_true: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T minimising the log loss of ``apply_temperature(probs, T)`` (searched on log T)."""
    result = minimize_scalar(
        lambda log_t: multiclass_log_loss(y_true, apply_temperature(probs, float(np.exp(log_t)))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


@dataclass
class Calibration:
    temperature: float
    clip: float
    oof_rows: int
    log_loss_before: float
    log_loss_after_temperature: float
    log_loss_after: float

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return clip_probabilities(apply_temperature(probs, self.temperature), self.clip)

    def as_dict(self) -> dict:
        return asdict(self)


def fit_calibration(probs: np.ndarray, y_true: np.ndarray, clip_grid: tuple[float, ...] = CLIP_GRID) -> Calibration:
    """Temperature, then the floor from ``clip_grid`` with the lowest OOF log loss."""
    temperature = fit_temperature(probs, y_true)
    scaled = apply_temperature(probs, temperature)
    losses = {floor: multiclass_log_loss(y_true, clip_probabilities(scaled, floor)) for floor in clip_grid}
    floor = min(losses, key=lambda f: (losses[f], f))
    return Calibration(
        temperature=temperature,
        clip=floor,
        oof_rows=len(y_true),
        log_loss_before=multiclass_log_loss(y_true, probs),
        log_loss_after_temperature=losses[0.0] if 0.0 in losses else multiclass_log_loss(y_true, scaled),
        log_loss_after=losses[floor],
    )
