"""Pose backends: a plain registry of builders. Each backend turns (N, H, W, 3) uint8 RGB frames into
N arrays of (people, 25, 3) BODY_25 keypoints (x_px, y_px, confidence) and declares name and version."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np


class PoseBackend(Protocol):
    name: str
    version: str

    def detect(self, frames: np.ndarray) -> list[np.ndarray]: ...


def _blazepose(options: dict[str, Any]) -> PoseBackend:
    from pseudolabel.backends.blazepose import BlazePoseBackend, BlazePoseConfig

    return BlazePoseBackend(BlazePoseConfig(**options))


def _openpose(options: dict[str, Any]) -> PoseBackend:
    from pseudolabel.backends.openpose import OpenPoseBackend, OpenPoseConfig

    return OpenPoseBackend(OpenPoseConfig(**options))


BACKENDS: dict[str, Callable[[dict[str, Any]], PoseBackend]] = {
    "blazepose": _blazepose,  # the embedded CPU default: weights ship in the mediapipe 0.10.21 wheel
    "openpose": _openpose,  # OpenPose BODY_25 via pyopenpose, built by the user
}
DEFAULT_BACKEND = "blazepose"


@dataclass(frozen=True)
class BackendSpec:
    """Which backend and its options (a frozen, picklable recipe: workers build the model from it)."""

    name: str = DEFAULT_BACKEND
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ValueError(f"unknown pose backend {self.name!r}; choose one of {sorted(BACKENDS)}")

    def build(self) -> PoseBackend:
        return BACKENDS[self.name](dict(self.options))
