"""Where each live track will be: a constant-velocity Kalman filter on the box, for all tracks at once.

State per track: position and velocity of the box centre (x, y, px) and of the log of its height. The
noises are in body heights (a far-away person and a close one are followed alike), the same for the
three axes, so the three 2-state filters share one covariance (in body heights squared) and SORT's 8x8
filter needs no matrix algebra here. A track seen frame after frame reaches the filter's steady state
within a few dozen frames; from then on its gains are constants (an alpha-beta filter), which lets a
steady stretch of frames be filtered in one pass (`Filters.steady_predictions`, one matrix product).

`Motion.VELOCITY` is plain constant velocity over the last two sightings, without variances;
`Motion.NONE` predicts that a track stays where it was last seen. Both are kept for comparison: the
README's tracking section measures all three.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np


class Motion(str, Enum):
    KALMAN = "kalman"  # constant velocity, filtered: the default
    VELOCITY = "velocity"  # constant velocity from the last two sightings, unfiltered, no variances
    NONE = "none"  # the last sighting, unmoved


@dataclass(frozen=True)
class MotionConfig:
    """measurement_noise: std of a detection's box centre and log height, in body heights;
    acceleration_noise: std of the change of velocity per frame, in body heights per frame;
    initial_speed: std of a new track's unknown velocity, in body heights per frame."""

    model: Motion = Motion.KALMAN
    measurement_noise: float = 0.05
    acceleration_noise: float = 0.005
    initial_speed: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Motion(self.model))
        for name in ("measurement_noise", "acceleration_noise", "initial_speed"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"MotionConfig.{name} must be in (0, 1) body heights, got {getattr(self, name)}")


_STEADY_TOLERANCE = 1e-3  # relative: a covariance this close to the steady state is snapped onto it


def _predicted_covariance(p_pos, p_cross, p_vel, q, dt):
    """Covariance (position, cross term, velocity) dt frames ahead under white acceleration noise q."""
    return (p_pos + dt * (2 * p_cross + dt * p_vel) + q * dt ** 3 / 3, p_cross + dt * p_vel + q * dt ** 2 / 2,
            p_vel + q * dt)


@lru_cache(maxsize=16)
def _steady_state(q: float, r: float, initial_velocity_variance: float) -> tuple[tuple[float, ...], tuple[float, float]]:
    """The covariance after a sighting, and the gains, that a track seen every frame converges to."""
    p_pos, p_cross, p_vel = r, 0.0, initial_velocity_variance
    for _ in range(100_000):
        pred_pos, pred_cross, pred_vel = _predicted_covariance(p_pos, p_cross, p_vel, q, 1.0)
        gain_pos, gain_vel = pred_pos / (pred_pos + r), pred_cross / (pred_pos + r)
        new = ((1 - gain_pos) * pred_pos, (1 - gain_pos) * pred_cross, pred_vel - gain_vel * pred_cross)
        if all(abs(a - b) <= 1e-14 * abs(b) for a, b in zip(new, (p_pos, p_cross, p_vel))):
            break
        p_pos, p_cross, p_vel = new
    return new, (gain_pos, gain_vel)


@lru_cache(maxsize=64)
def _steady_response(gain_pos: float, gain_vel: float, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The steady filter as a linear map: prediction t (t = 0..n_frames) = from_state[t] . (x, v) of the
    state before the run + from_sightings[t] . (sightings 0..n_frames-1). With the state s = (x, v),
    a sighting z gives s' = F s + G z (F = [[1-a, 1-a], [-b, 1-b]], G = (a, b)), and p_t = (1, 1) . s_{t-1}."""
    step = np.array([[1 - gain_pos, 1 - gain_pos], [-gain_vel, 1 - gain_vel]])
    into = np.array([gain_pos, gain_vel])
    powers = [np.eye(2)]
    for _ in range(n_frames):
        powers.append(step @ powers[-1])
    powers = np.stack(powers)  # F^0 .. F^n
    from_state = powers.sum(axis=1)  # (1, 1) F^t: (n + 1, 2)
    impulse = from_state[:-1] @ into  # (1, 1) F^k G, k = 0 .. n - 1
    lag = np.arange(n_frames + 1)[:, None] - 1 - np.arange(n_frames)[None, :]
    from_sightings = np.where(lag >= 0, impulse[np.clip(lag, 0, None)], 0.0)  # (n + 1, n)
    return from_state, from_sightings


class Filters:
    """The filters of the tracks, addressed by slot; grows as tracks start."""

    def __init__(self, config: MotionConfig, capacity: int = 64) -> None:
        self.config = config
        self.q = config.acceleration_noise ** 2
        self.r = config.measurement_noise ** 2
        self.mean = np.zeros((capacity, 3))  # x px, y px, log height
        self.velocity = np.zeros((capacity, 3))  # per frame
        self.covariance = np.zeros((capacity, 3))  # position, cross term, velocity; in body heights^2
        covariance, gains = _steady_state(self.q, self.r, config.initial_speed ** 2)
        self.steady_covariance, self.steady_gains = np.array(covariance), gains
        self._steady_variance = float(_predicted_covariance(*covariance, self.q, 1.0)[0])

    def _grow(self, needed: int) -> None:
        if needed <= len(self.mean):
            return
        capacity = max(needed, 2 * len(self.mean))
        for name in ("mean", "velocity", "covariance"):
            old = getattr(self, name)
            new = np.zeros((capacity, 3))
            new[:len(old)] = old
            setattr(self, name, new)

    def start(self, slots: np.ndarray, measured: np.ndarray) -> None:
        """New tracks at `slots` first seen at `measured` (n, 3): x, y, log height."""
        self._grow(int(slots.max()) + 1 if len(slots) else 0)
        self.mean[slots] = measured
        self.velocity[slots] = 0.0
        self.covariance[slots] = [self.r, 0.0, self.config.initial_speed ** 2]

    def predict(self, slots: np.ndarray, frames_ahead: np.ndarray) -> tuple[np.ndarray, ...]:
        """Where the tracks at `slots` will be seen `frames_ahead` (n,) frames after their last sighting:
        mean (n, 3); the variance of a sighting around it (n,) px^2 (the prediction's own plus the
        detector's); and its sharpness (n,): that variance for a steady track seen in the last frame over
        this one (1 for a steady track, less for a track long unseen or just started). Does not change
        the filters."""
        dt = frames_ahead.astype(np.float64)
        mean = self.mean[slots]
        height_sq = np.exp(2 * mean[:, 2])
        if self.config.model is not Motion.KALMAN:
            return mean + self.velocity[slots] * dt[:, None], self.r * height_sq, np.ones(len(slots))
        c = self.covariance[slots]
        p_pos = c[:, 0] + dt * (2 * c[:, 1] + dt * c[:, 2]) + self.q * dt ** 3 / 3
        sharpness = np.minimum(1.0, (self.r + self.steady_variance()) / (self.r + p_pos))
        return mean + self.velocity[slots] * dt[:, None], (self.r + p_pos) * height_sq, sharpness

    def update(self, slots: np.ndarray, frames_ahead: np.ndarray, measured: np.ndarray) -> None:
        """Tracks at `slots`, last seen `frames_ahead` frames ago, are seen at `measured` (n, 3)."""
        dt = frames_ahead.astype(np.float64)
        if self.config.model is not Motion.KALMAN:  # unfiltered: each sighting is taken as exact
            if self.config.model is Motion.VELOCITY:
                self.velocity[slots] = (measured - self.mean[slots]) / dt[:, None]
            self.mean[slots] = measured
            return
        c = self.covariance[slots]
        p_pos, p_cross, p_vel = _predicted_covariance(c[:, 0], c[:, 1], c[:, 2], self.q, dt)
        gain_pos, gain_vel = p_pos / (p_pos + self.r), p_cross / (p_pos + self.r)
        residual = measured - self.mean[slots] - self.velocity[slots] * dt[:, None]
        self.mean[slots] += self.velocity[slots] * dt[:, None] + gain_pos[:, None] * residual
        self.velocity[slots] += gain_vel[:, None] * residual
        covariance = np.stack([(1 - gain_pos) * p_pos, (1 - gain_pos) * p_cross, p_vel - gain_vel * p_cross], axis=1)
        # Snap onto the steady state once there, so that a steady track filtered frame by frame and one
        # filtered in a batch (steady_predictions) agree.
        steady = (np.abs(covariance - self.steady_covariance) <= _STEADY_TOLERANCE * np.abs(self.steady_covariance)).all(1)
        covariance[steady] = self.steady_covariance
        self.covariance[slots] = covariance

    def is_steady(self, slots: np.ndarray) -> np.ndarray:
        """(n,) bool: the filter at each slot has reached its steady state (steady_predictions applies)."""
        if self.config.model is not Motion.KALMAN:
            return np.zeros(len(slots), dtype=bool)
        return (self.covariance[slots] == self.steady_covariance).all(1)

    def steady_variance(self) -> float:
        """The variance of a steady track's prediction one frame ahead, in body heights^2."""
        return self._steady_variance

    def steady_spread(self) -> float:
        """The variance of a steady track's next sighting (prediction plus detector), in body heights^2."""
        return self.r + self._steady_variance

    def steady_predictions(self, slots: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Steady tracks at `slots` seen at `measured` (L, n, 3) in L frames in a row: the predictions
        (L + 1, n, 3) each sighting is compared with, and the one after the last; the same numbers, up
        to rounding, as L calls of predict and update. Does not change the filters (commit_steady does)."""
        n_frames = len(measured)
        from_state, from_sightings = _steady_response(*self.steady_gains, n_frames)
        x, v = self.mean[slots], self.velocity[slots]
        return (from_state[:, :1, None] * x + from_state[:, 1:, None] * v
                + np.tensordot(from_sightings, measured, axes=(1, 0)))

    def commit_steady(self, slots: np.ndarray, predicted: np.ndarray, measured: np.ndarray, n_frames: int) -> None:
        """Leave the filters at `slots` as after the first `n_frames` sightings of a steady_predictions run."""
        a, _ = self.steady_gains
        last = (1 - a) * predicted[n_frames - 1] + a * measured[n_frames - 1]
        self.mean[slots] = last
        self.velocity[slots] = predicted[n_frames] - last
