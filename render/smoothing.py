"""Temporal smoothing of per-frame predictions: the one-euro filter (Casiez et al., CHI 2012), as VIBE offers.

A low-pass filter whose cutoff rises with speed: still poses lose their jitter, fast motion keeps its
lag small. Rotations are filtered as unit quaternions (signs made continuous over time first, so q and
-q, the same rotation, never average to nothing) and renormalised; the camera and the betas are filtered
as they are. Units are per frame, as in VIBE (its defaults: min_cutoff 0.004, beta 0.7), so the same
settings do the same at any frame rate measured in frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from render.people import PersonSequence


@dataclass(frozen=True)
class SmoothingConfig:
    """min_cutoff: cutoff frequency at rest (cycles per frame; lower = smoother); beta: how fast the cutoff
    rises with speed (higher = less lag); derivative_cutoff: cutoff of the speed estimate."""

    min_cutoff: float = 0.004
    beta: float = 0.7
    derivative_cutoff: float = 1.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "derivative_cutoff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SmoothingConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.beta < 0:
            raise ValueError(f"SmoothingConfig.beta must be >= 0, got {self.beta}")


def _alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau)  # time step: one frame


def one_euro(signal: np.ndarray, config: SmoothingConfig) -> np.ndarray:
    """signal (n, ...) over n frames -> the filtered signal, each channel on its own."""
    out = np.array(signal, dtype=np.float64, copy=True)
    if len(out) < 2:
        return out.astype(signal.dtype)
    speed = np.zeros_like(out[0])
    alpha_speed = _alpha(config.derivative_cutoff)
    for t in range(1, len(out)):
        speed = alpha_speed * (signal[t] - out[t - 1]) + (1 - alpha_speed) * speed
        alpha = _alpha(config.min_cutoff + config.beta * np.abs(speed))
        out[t] = alpha * signal[t] + (1 - alpha) * out[t - 1]
    return out.astype(signal.dtype)


def axis_angle_to_quaternion(rotations: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle radians -> (..., 4) unit quaternions (w, x, y, z)."""
    angle = np.linalg.norm(rotations, axis=-1, keepdims=True)
    axis = rotations / np.maximum(angle, 1e-12)
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)


def quaternion_to_axis_angle(quaternions: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (any norm, any sign) -> (..., 3) axis-angle radians with angles in [0, pi]."""
    q = quaternions / np.linalg.norm(quaternions, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(sin_half, q[..., :1])
    return q[..., 1:] / np.maximum(sin_half, 1e-12) * angle


def nearest_equivalent(rotations: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each axis-angle rotation (..., 3) written as itself or as the same rotation the other way round
    (angle - 2 pi about the same axis), whichever is nearer `reference`: the input's own branch, so that a
    body turned by about pi keeps its sign instead of jumping between +pi and -pi."""
    angle = np.linalg.norm(rotations, axis=-1, keepdims=True)
    other = rotations * (1.0 - 2.0 * np.pi / np.maximum(angle, 1e-12))
    nearer = np.linalg.norm(other - reference, axis=-1, keepdims=True) < np.linalg.norm(rotations - reference, axis=-1,
                                                                                         keepdims=True)
    return np.where(nearer & (angle > 1e-12), other, rotations)


def continuous_quaternions(quaternions: np.ndarray) -> np.ndarray:
    """(n, ..., 4): flip each frame's sign where needed so consecutive frames lie in the same hemisphere."""
    out = quaternions.copy()
    for t in range(1, len(out)):
        flip = (out[t] * out[t - 1]).sum(-1, keepdims=True) < 0
        out[t] = np.where(flip, -out[t], out[t])
    return out


def smooth_person(person: PersonSequence, config: SmoothingConfig = SmoothingConfig()) -> PersonSequence:
    """The same person with pose, camera and betas filtered over time; vertices dropped (pose them again)."""
    n = person.n_frames
    rotations = person.pose.reshape(n, -1, 3).astype(np.float64)
    quaternions = continuous_quaternions(axis_angle_to_quaternion(rotations))
    pose = nearest_equivalent(quaternion_to_axis_angle(one_euro(quaternions, config)), rotations).reshape(n, -1)
    return replace(person, pose=pose.astype(np.float32), camera=one_euro(person.camera, config),
                   shape=one_euro(person.shape, config), vertices=None)


def joint_acceleration_mm(joints: np.ndarray) -> float:
    """Mean acceleration of 3D joints (n, J, 3) in metres -> mm per frame^2 (the paper's, train.eval_metrics)."""
    from train.eval_metrics import acceleration

    if len(joints) < 3:
        return float("nan")
    return float(acceleration(np.asarray(joints, np.float64)).mean()) * 1000.0
