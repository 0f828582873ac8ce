"""One person's predictions over consecutive frames of a video: the record every renderer and exporter takes."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from train.params import N_CAMERA, N_POSE, N_SHAPE, N_THETA, camera_of, pose_of, shape_of


@dataclass(frozen=True)
class PersonSequence:
    """A tube's per-frame SMPL, with what places it in the original video.

    frames: (n,) int64 frame indices of the video (at the rate its tube was made at), consecutive.
    bbox: (n, 3) float32 crop box per frame: center_x_px, center_y_px, scale (crop pixels per image
        pixel; the 224-pixel crop covers 224 / scale image pixels), as the `tubes` table holds it.
    camera: (n, 3) float32 weak-perspective (s, tx, ty): crop units x = s * (X + t), [-1, 1] across the crop.
    pose: (n, 72) float32 axis-angle radians of SMPL's 24 joints (the first is the global orientation).
    shape: (n, 10) float32 SMPL betas.
    vertices: (n, V, 3) float32 posed SMPL vertices in metres (camera orientation: x right, y down, z away),
        or None until `with_vertices` fills them.
    """

    track_id: int
    frames: np.ndarray
    bbox: np.ndarray
    camera: np.ndarray
    pose: np.ndarray
    shape: np.ndarray
    vertices: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.frames)
        expected = {"bbox": (n, 3), "camera": (n, N_CAMERA), "pose": (n, N_POSE), "shape": (n, N_SHAPE)}
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"PersonSequence (track {self.track_id}).{name}: expected shape {shape}, "
                                 f"got {np.shape(getattr(self, name))}")
        if self.vertices is not None and (self.vertices.ndim != 3 or self.vertices.shape[0] != n):
            raise ValueError(f"PersonSequence (track {self.track_id}).vertices: expected (n={n}, V, 3), "
                             f"got {self.vertices.shape}")
        if n and not np.array_equal(np.diff(self.frames), np.ones(n - 1, dtype=np.diff(self.frames).dtype)):
            raise ValueError(f"PersonSequence (track {self.track_id}).frames must be consecutive")

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def index_of(self, frame: int) -> int | None:
        """The row of video frame `frame`, or None when this person is not in it."""
        i = int(frame) - int(self.frames[0]) if self.n_frames else -1
        return i if 0 <= i < self.n_frames else None


def person_from_theta(track_id: int, start_frame: int, bbox: np.ndarray, theta: np.ndarray | torch.Tensor
                      ) -> PersonSequence:
    """The adapter from the model's output: theta (n, 85) = the per-frame [camera, pose, shape] of one
    tube (HMMR's forward gives (B, T, 85): pass one row of B), named slices from train.params."""
    theta = theta.detach().cpu().numpy() if isinstance(theta, torch.Tensor) else np.asarray(theta)
    if theta.ndim != 2 or theta.shape[1] != N_THETA:
        raise ValueError(f"person_from_theta: theta must be (n, {N_THETA}), got {theta.shape}")
    n = len(theta)
    return PersonSequence(track_id=int(track_id), frames=np.arange(start_frame, start_frame + n, dtype=np.int64),
                          bbox=np.asarray(bbox, np.float32), camera=camera_of(theta).astype(np.float32),
                          pose=pose_of(theta).astype(np.float32), shape=shape_of(theta).astype(np.float32))


@torch.no_grad()
def posed_body(body: torch.nn.Module, person: PersonSequence, batch_frames: int = 256
               ) -> tuple[np.ndarray, np.ndarray]:
    """SMPL (train.body.BodyModel) on every frame: vertices (n, V, 3) and joints (n, J, 3), float32 metres."""
    device = next(body.buffers()).device
    vertices, joints = [], []
    for start in range(0, person.n_frames, batch_frames):
        pose = torch.from_numpy(person.pose[start:start + batch_frames]).float().to(device)
        shape = torch.from_numpy(person.shape[start:start + batch_frames]).float().to(device)
        v, j = body(pose, shape)
        vertices.append(v.float().cpu().numpy())
        joints.append(j.float().cpu().numpy())
    if not vertices:
        return np.zeros((0, 0, 3), np.float32), np.zeros((0, 0, 3), np.float32)
    return np.concatenate(vertices), np.concatenate(joints)


def with_vertices(body: torch.nn.Module, person: PersonSequence) -> PersonSequence:
    return replace(person, vertices=posed_body(body, person)[0])
