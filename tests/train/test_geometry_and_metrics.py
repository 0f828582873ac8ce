"""Closed-form camera against brute force (the metrics are tested in test_eval_metrics.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from train.camera import optimal_camera, project
from train.params import CAMERA, N_THETA, POSE, SHAPE, mean_theta


def test_named_slices_cover_theta():
    assert (CAMERA.stop, POSE.stop, SHAPE.stop) == (3, 75, 85) and N_THETA == 85
    assert mean_theta()[POSE][0] == pytest.approx(math.pi)


@pytest.mark.parametrize("seed", range(5))
def test_optimal_camera_matches_a_brute_force_solve(seed):
    rng = np.random.default_rng(seed)
    joints = torch.tensor(rng.normal(0, 0.5, (25, 3)), dtype=torch.float64)
    visibility = torch.tensor(rng.random(25) > 0.3, dtype=torch.float64)
    true = torch.tensor([0.8, 0.1, -0.2], dtype=torch.float64)
    keypoints = project(joints, true) + torch.tensor(rng.normal(0, 0.02, (25, 2)))
    closed = optimal_camera(joints, keypoints, visibility)

    def cost(camera):
        error = project(joints, torch.tensor(camera)) - keypoints
        return float(((error ** 2).sum(-1) * visibility).sum())

    brute = minimize(cost, x0=[1.0, 0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14,
                                                                               "maxiter": 20000}).x
    np.testing.assert_allclose(closed.numpy(), brute, atol=1e-4)
    assert cost(closed.numpy()) <= cost(brute) + 1e-9
