"""Named slices of HMMR's 85-D parameter vector theta = [camera (3), pose (72), shape (10)].

Never slice theta by numbers elsewhere: use these.
camera: weak-perspective (scale s, translation tx, ty): x_2d = s * (X[:, :2] + t), in crop units [-1, 1].
pose: 24 SMPL joint rotations in axis-angle (radians), the first being the global orientation.
shape: 10 SMPL betas.
"""
from __future__ import annotations

import math

import torch

N_CAMERA, N_POSE, N_SHAPE = 3, 72, 10
N_THETA = N_CAMERA + N_POSE + N_SHAPE
CAMERA = slice(0, N_CAMERA)
POSE = slice(N_CAMERA, N_CAMERA + N_POSE)
SHAPE = slice(N_CAMERA + N_POSE, N_THETA)
GLOBAL_ORIENT = slice(0, 3)  # within pose
BODY_POSE = slice(3, N_POSE)  # within pose


def camera_of(theta: torch.Tensor) -> torch.Tensor:
    return theta[..., CAMERA]


def pose_of(theta: torch.Tensor) -> torch.Tensor:
    return theta[..., POSE]


def shape_of(theta: torch.Tensor) -> torch.Tensor:
    return theta[..., SHAPE]


def mean_theta() -> torch.Tensor:
    """The initial estimate before any iteration: a person facing the camera (rotated pi about x, as
    SMPL's y-up meets the image's y-down), mean shape, a camera that fills the crop."""
    theta = torch.zeros(N_THETA)
    theta[CAMERA] = torch.tensor([0.9, 0.0, 0.0])
    theta[POSE.start + GLOBAL_ORIENT.start] = math.pi
    return theta
