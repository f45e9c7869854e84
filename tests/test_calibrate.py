"""Temperature scaling and the probability floor, fitted on out-of-fold predictions."""

from __future__ import annotations

import numpy as np
import pytest

from competitions.core.metrics import multiclass_log_loss
from submissions.calibrate import apply_temperature, clip_probabilities, fit_calibration, fit_temperature


def _overconfident(n: int = 4000, classes: int = 10, temperature: float = 2.0, seed: int = 0):
    """Calibrated probabilities (labels drawn from them), then sharpened as if logits were x``temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, classes))
    calibrated = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(classes, p=row) for row in calibrated])
    return apply_temperature(calibrated, 1 / temperature), y


def test_temperature_recovers_the_sharpening():
    probs, y = _overconfident(temperature=2.0)
    assert fit_temperature(probs, y) == pytest.approx(2.0, rel=0.1)
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, atol=1e-12)


def test_calibration_lowers_oof_log_loss_and_reports_both():
    probs, y = _overconfident(temperature=3.0)
    calibration = fit_calibration(probs, y)
    assert calibration.log_loss_after < calibration.log_loss_before - 0.05
    assert calibration.log_loss_before == pytest.approx(multiclass_log_loss(y, probs))
    assert calibration.log_loss_after == pytest.approx(multiclass_log_loss(y, calibration.apply(probs)))
    np.testing.assert_allclose(calibration.apply(probs).sum(1), 1, atol=1e-9)


def test_floor_bounds_a_confident_mistake():
    # Right and sure 999 times, then one mistake at 1e-30: no temperature rescues it without
    # spoiling the rest; a floor does.
    probs = np.array([[1 - 2e-6, 1e-6, 1e-6]] * 999 + [[1 - 2e-30, 1e-30, 1e-30]])
    y = np.array([0] * 999 + [1])
    calibration = fit_calibration(probs, y)
    assert calibration.clip > 0
    assert calibration.log_loss_after < calibration.log_loss_after_temperature - 0.01
    floored = clip_probabilities(probs, 1e-3)
    assert floored.min() >= 1e-3 / (1 + 3e-3) and np.allclose(floored.sum(1), 1)
