"""Weak-perspective projection and its closed-form optimal camera.

x_2d = s * (X[..., :2] + t): scale s and translation t (tx, ty), in the crop's normalised units [-1, 1].
"""
from __future__ import annotations

import torch


def project(joints: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """joints (..., J, 3) metres, camera (..., 3) = (s, tx, ty) -> (..., J, 2) crop units."""
    scale, translation = camera[..., :1], camera[..., 1:]
    return scale[..., None, :] * (joints[..., :2] + translation[..., None, :])


def optimal_camera(joints: torch.Tensor, keypoints: torch.Tensor, visibility: torch.Tensor,
                   scale_range: tuple[float, float] | None = None, eps: float = 1e-8) -> torch.Tensor:
    """The (s, tx, ty) minimising sum_j v_j |s (X_j + t) - x_j|^2, in closed form.

    joints (..., J, 3); keypoints (..., J, 2); visibility (..., J) in [0, 1]. Substituting b = s t makes it
    linear least squares in (s, b): s = cov(X, x) / var(X) over visible joints (weighted), b = mean(x) - s mean(X).
    HMMR uses it for the frames +-5 away, whose camera the model does not predict.
    scale_range: clip the scale to (low, high); the released code clips to (0.7, 10) because a pose
    predicted facing the wrong way fits best at a scale near 0, which would hide its 2D error.
    (Theirs solves a 2x2 linear map and takes half its trace as the scale; this is the exact minimiser
    of the same objective, never worse on it.)
    """
    weight = visibility[..., None]
    total = weight.sum(-2).clamp_min(eps)
    mean_joint = (weight * joints[..., :2]).sum(-2) / total
    mean_point = (weight * keypoints).sum(-2) / total
    centred_joint = joints[..., :2] - mean_joint[..., None, :]
    centred_point = keypoints - mean_point[..., None, :]
    covariance = (weight * centred_joint * centred_point).sum((-2, -1))
    variance = (weight * centred_joint ** 2).sum((-2, -1)).clamp_min(eps)
    scale = covariance / variance
    scale = scale.clamp(*scale_range) if scale_range is not None else scale.clamp_min(eps)
    translation = mean_point / scale[..., None] - mean_joint
    return torch.cat([scale[..., None], translation], dim=-1)
