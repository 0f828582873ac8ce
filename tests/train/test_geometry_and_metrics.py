"""Closed-form camera against brute force; metrics against hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from train.camera import optimal_camera, project
from train.metrics import acceleration_error, mpjpe, pa_mpjpe, pck
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


def test_pa_mpjpe_ignores_a_similarity_transform_and_mpjpe_does_not():
    rng = np.random.default_rng(0)
    target = torch.tensor(rng.normal(0, 1, (4, 14, 3)))
    angle = 0.7
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1.0]],
                            dtype=torch.float64)
    moved = 1.3 * target @ rotation.T + torch.tensor([0.5, -1.0, 2.0])
    assert float(pa_mpjpe(moved, target)) == pytest.approx(0.0, abs=1e-9)
    assert float(mpjpe(moved, target)) > 0.1


def test_mpjpe_by_hand():
    target = torch.zeros(1, 2, 3)
    predicted = torch.tensor([[[3.0, 4.0, 0.0], [-3.0, -4.0, 0.0]]])  # centred, each joint 5 away
    assert float(mpjpe(predicted, target)) == pytest.approx(5.0)


def test_acceleration_error_by_hand():
    frames = torch.arange(5, dtype=torch.float64)
    target = torch.zeros(5, 1, 3)
    predicted = torch.zeros(5, 1, 3)
    predicted[:, 0, 0] = frames ** 2  # constant acceleration of 2 per frame^2
    assert float(acceleration_error(predicted, target)) == pytest.approx(2.0)
    linear = torch.zeros(5, 1, 3)
    linear[:, 0, 1] = 3 * frames  # no acceleration
    assert float(acceleration_error(linear, target)) == pytest.approx(0.0)


def test_pck_at_5_percent_of_the_crop():
    target = torch.zeros(1, 3, 2)
    predicted = torch.tensor([[[0.05, 0.0], [0.2, 0.0], [0.0, 0.0]]])  # 0.1 units = 5% of a 2-unit crop
    visibility = torch.tensor([[1.0, 1.0, 0.0]])
    assert float(pck(predicted, target, visibility)) == pytest.approx(0.5)
