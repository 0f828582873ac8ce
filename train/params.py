"""Named slices of HMMR's 85-D parameter vector theta = [camera (3), pose (72), shape (10)].

Never slice theta by numbers elsewhere: use these.
camera: weak-perspective (scale s, translation tx, ty): x_2d = s * (X[:, :2] + t), in crop units [-1, 1].
pose: 24 SMPL joint rotations in axis-angle (radians), the first being the global orientation.
shape: 10 SMPL betas.
"""
from __future__ import annotations

import math

import numpy as np
import torch

N_SMPL_JOINTS = 24  # SMPL's kinematic tree: the root (global orientation) and 23 body joints
N_CAMERA, N_POSE, N_SHAPE = 3, 3 * N_SMPL_JOINTS, 10
N_THETA = N_CAMERA + N_POSE + N_SHAPE
CAMERA = slice(0, N_CAMERA)
POSE = slice(N_CAMERA, N_CAMERA + N_POSE)
SHAPE = slice(N_CAMERA + N_POSE, N_THETA)
GLOBAL_ORIENT = slice(0, 3)  # within pose
BODY_POSE = slice(3, N_POSE)  # within pose
MEAN_CAMERA = (0.9, 0.0, 0.0)  # HMR's initial camera: the person fills 90% of the crop


def camera_of(theta: torch.Tensor) -> torch.Tensor:
    return theta[..., CAMERA]


def pose_of(theta: torch.Tensor) -> torch.Tensor:
    return theta[..., POSE]


def shape_of(theta: torch.Tensor) -> torch.Tensor:
    return theta[..., SHAPE]


def mean_theta(pose: np.ndarray | None = None, shape: np.ndarray | None = None) -> torch.Tensor:
    """The initial estimate before any iteration, as the released code builds it: camera MEAN_CAMERA,
    the mean body pose (HMR's `neutral_smpl_meanwjoints.h5`; zeros without it) with the global rotation
    replaced by pi about x (a person upright in the image: SMPL's y-up meets the image's y-down), and the
    mean shape (zeros without it)."""
    theta = torch.zeros(N_THETA)
    theta[CAMERA] = torch.tensor(MEAN_CAMERA)
    if pose is not None:
        theta[POSE] = torch.as_tensor(np.asarray(pose, dtype=np.float32).reshape(N_POSE))
    if shape is not None:
        theta[SHAPE] = torch.as_tensor(np.asarray(shape, dtype=np.float32).reshape(N_SHAPE))
    theta[POSE.start + GLOBAL_ORIENT.start: POSE.start + GLOBAL_ORIENT.stop] = torch.tensor([math.pi, 0.0, 0.0])
    return theta
