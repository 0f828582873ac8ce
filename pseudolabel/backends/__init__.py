"""Pose backends: a plain registry. Each backend turns (N, H, W, 3) uint8 RGB frames into N arrays of
(people, 25, 3) BODY_25 keypoints (x_px, y_px, confidence) and declares name and version.

To add one: a module here with a frozen config dataclass (its fields are the backend's options) and a class
built from it that has `name`, `version` and `detect`, then an entry in BACKENDS.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Protocol

import numpy as np

from manifests.errors import ConfigError


class PoseBackend(Protocol):
    name: str
    version: str

    def detect(self, frames: np.ndarray) -> list[np.ndarray]: ...


# name -> (config dataclass, backend class built from it), imported when asked for: `--help` stays instant.
BackendTypes = tuple[type, Callable[[Any], PoseBackend]]


def _blazepose() -> BackendTypes:
    from pseudolabel.backends.blazepose import BlazePoseBackend, BlazePoseConfig

    return BlazePoseConfig, BlazePoseBackend


def _openpose() -> BackendTypes:
    from pseudolabel.backends.openpose import OpenPoseBackend, OpenPoseConfig

    return OpenPoseConfig, OpenPoseBackend


BACKENDS: dict[str, Callable[[], BackendTypes]] = {
    "blazepose": _blazepose,  # the embedded CPU default: weights ship in the mediapipe 0.10.21 wheel
    "openpose": _openpose,  # OpenPose BODY_25 via pyopenpose, built by the user
}
DEFAULT_BACKEND = "blazepose"


@dataclass(frozen=True)
class BackendSpec:
    """Which backend and its options (a frozen, picklable recipe: workers build the model from it).

    The options are checked against the backend's config when the spec is made, in the command, so that
    a misspelt or out-of-range option stops the command instead of failing every unit on the workers.
    """

    name: str = DEFAULT_BACKEND
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ConfigError(f"unknown pose backend {self.name!r}; choose one of {sorted(BACKENDS)}")
        self.config()

    def config(self) -> Any:
        """The backend's config dataclass built from the options; ConfigError for an unknown option."""
        config_type, _ = BACKENDS[self.name]()
        valid = [f.name for f in fields(config_type)]
        unknown = sorted({name for name, _ in self.options} - set(valid))
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown} of the {self.name} pose backend; valid options: {valid}")
        return config_type(**dict(self.options))

    def build(self) -> PoseBackend:
        _, backend_type = BACKENDS[self.name]()
        return backend_type(self.config())
