"""tracking/motion.py: the Kalman filter on the box follows a walker, across a gap, with a wider spread."""
from __future__ import annotations

import numpy as np
import pytest

from tracking.motion import Filters, MotionConfig


def walk(filters: Filters, n_frames: int, speed: float = 3.0) -> None:
    slot = np.array([0])
    filters.start(slot, np.array([[100.0, 200.0, np.log(100.0)]]))
    for f in range(1, n_frames):
        filters.update(slot, np.array([1]), np.array([[100.0 + speed * f, 200.0, np.log(100.0)]]))


def test_a_walker_is_predicted_ahead_across_a_gap_with_a_wider_spread():
    filters = Filters(MotionConfig())
    walk(filters, 60)  # last seen at x = 277
    mean, variance, sharpness = filters.predict(np.array([0, 0]), np.array([1, 8]))
    assert mean[:, 0] == pytest.approx([280.0, 301.0], abs=0.5)
    assert variance[1] > variance[0] and sharpness[0] == pytest.approx(1.0) and sharpness[1] < 1.0
    assert filters.is_steady(np.array([0])).all()


def test_steady_predictions_equal_predicting_and_updating_frame_by_frame():
    batch, loop = Filters(MotionConfig()), Filters(MotionConfig())
    walk(batch, 60), walk(loop, 60)
    rng = np.random.default_rng(0)
    measured = np.array([[280.0 + 3 * t, 200.0, np.log(100.0)] for t in range(10)]) + rng.normal(0, 1, (10, 3)) * [2, 2, 0]
    predicted = batch.steady_predictions(np.array([0]), measured[:, None])
    for t in range(10):
        mean, _, _ = loop.predict(np.array([0]), np.array([1]))
        assert predicted[t, 0] == pytest.approx(mean[0])
        loop.update(np.array([0]), np.array([1]), measured[t][None])
