"""Evaluation metrics: PCK on 2D, MPJPE, PA-MPJPE, acceleration and acceleration error on 3D."""
from __future__ import annotations

import torch


def pck(predicted: torch.Tensor, target: torch.Tensor, visibility: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    """Share of visible joints within `threshold` of the crop size. 2D (..., J, 2) in [-1, 1] crop units,
    so the crop is 2 units wide and 0.05 of it is 0.1 units."""
    distance = (predicted - target).norm(dim=-1)
    correct = (distance < threshold * 2.0).float() * visibility
    return correct.sum() / visibility.sum().clamp_min(1.0)


def mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error, (..., J, 3) in the units given, after aligning the root-centred means."""
    predicted = predicted - predicted.mean(-2, keepdim=True)
    target = target - target.mean(-2, keepdim=True)
    return (predicted - target).norm(dim=-1).mean()


def procrustes_align(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`predicted` (N, J, 3) moved by the similarity transform (scale, rotation, translation) that best fits `target`."""
    mu_p, mu_t = predicted.mean(1, keepdim=True), target.mean(1, keepdim=True)
    p, t = predicted - mu_p, target - mu_t
    u, s, vt = torch.linalg.svd(p.transpose(1, 2) @ t)
    d = torch.sign(torch.linalg.det(u @ vt))  # no reflections
    correction = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    rotation = u @ correction @ vt
    scale = (s * torch.diagonal(correction, dim1=-2, dim2=-1)).sum(-1) / (p ** 2).sum((1, 2))
    return scale[:, None, None] * p @ rotation + mu_t


def pa_mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after Procrustes alignment of each frame."""
    return (procrustes_align(predicted, target) - target).norm(dim=-1).mean()


def acceleration(joints: torch.Tensor) -> torch.Tensor:
    """Mean magnitude of the second difference over time: (T, J, 3) -> scalar (units per frame^2)."""
    return (joints[2:] - 2 * joints[1:-1] + joints[:-2]).norm(dim=-1).mean()


def acceleration_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |accel(predicted) - accel(target)| per joint and frame, (T, J, 3) each."""
    accel_p = predicted[2:] - 2 * predicted[1:-1] + predicted[:-2]
    accel_t = target[2:] - 2 * target[1:-1] + target[:-2]
    return (accel_p - accel_t).norm(dim=-1).mean()
