"""The pose stage's per-video work: decode once, find shot cuts and 2D poses in the same pass."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from manifests.joints import KEYPOINT_WIDTH, N_BODY_25
from manifests.rows import DetectionRows, ShotRows
from manifests.status import UnitPayload, UnitResult
from media.decode import DecodeConfig, open_stream
from pseudolabel.backends import BackendSpec, PoseBackend
from pseudolabel.shots import CutDetector, ShotConfig, restrict_shots, segment_frames


@dataclass(frozen=True)
class PoseStageConfig:
    """backend: which pose model; decode: frame rate, downscale and time limit; shots: cut detection;
    batch_frames: frames handed to the backend at once (GPU backends batch them)."""

    backend: BackendSpec = field(default_factory=BackendSpec)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    shots: ShotConfig = field(default_factory=ShotConfig)
    batch_frames: int = 8

    def __post_init__(self) -> None:
        if self.batch_frames < 1:
            raise ValueError(f"PoseStageConfig.batch_frames must be >= 1, got {self.batch_frames}")

    def version(self) -> str:
        """Enters the stage version: a new backend, its options or the frame rate make every video due again."""
        options = ",".join(f"{k}={v}" for k, v in sorted(self.backend.options))
        return f"1/{self.backend.name}[{options}]/fps={self.decode.fps or 'native'}"


@dataclass(frozen=True)
class PosePayload(UnitPayload):
    """One video to pose (unit_id: its video id): the absolute path of its file."""

    media_path: str
    # [start_s, end_s) time ranges of the authors' clips in the video (VLOG's); None: the whole video
    segments: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True, eq=False)
class VideoPose:
    """The shots and 2D poses of one video, at the decoded frame rate `fps`.

    shots: (start_frame, end_frame) of each shot, end exclusive; n_frames: frames decoded.
    frames: (N,) int64 frame of each detection; keypoints: (N, 25, 3) float32 BODY_25 (x_px, y_px,
    confidence) in original-frame pixels, people in the backend's order within a frame; width, height:
    the frame's size in those pixels (0: unknown).
    """

    fps: float
    n_frames: int
    shots: list[tuple[int, int]]
    frames: np.ndarray
    keypoints: np.ndarray
    backend: str
    backend_version: str
    width: int = 0
    height: int = 0

    @property
    def shot_starts(self) -> np.ndarray:
        return np.sort(np.array([start for start, _ in self.shots], dtype=np.int64))

    def unit_result(self, video_id: str) -> UnitResult:
        """The pose stage's rows of `shots` and `detections` for this video, and its counters."""
        n, n_shots = len(self.frames), len(self.shots)
        shots = ShotRows(video_id=[video_id] * n_shots, shot=list(range(n_shots)),
                         start_frame=[a for a, _ in self.shots], end_frame=[b for _, b in self.shots],
                         fps=[self.fps] * n_shots)
        detections = DetectionRows(video_id=[video_id] * n, frame=self.frames, person=_person_index(self.frames.tolist()),
                                   keypoints=self.keypoints.reshape(n, KEYPOINT_WIDTH), backend=[self.backend] * n,
                                   backend_version=[self.backend_version] * n)
        return UnitResult(rows=(shots, detections),
                          counters={"frames": self.n_frames, "detections": n, "shot_cuts": n_shots - 1})


def pose_video(media_path: Path, backend: PoseBackend, config: PoseStageConfig,
               segments_s: tuple[tuple[float, float], ...] | None = None) -> VideoPose:
    """Shot cuts and 2D poses of one video file, decoded once for both. With `segments_s` (the
    [start_s, end_s) ranges of the authors' clips in it), frames outside them are decoded (for cut
    detection) but never posed, and shots are cut to the segments."""
    info, frames = open_stream(media_path, config.decode)
    segments = segment_frames(list(segments_s), info.fps) if segments_s else None
    wanted = np.zeros(0, bool)
    if segments is not None:
        wanted = np.zeros(max((end for _, end in segments), default=0), bool)
        for start, end in segments:
            wanted[start:end] = True
    cuts = CutDetector(config.shots)
    frame_ids: list[int] = []
    people: list[np.ndarray] = []
    batch, batch_ids, batch_scales = [], [], []
    n_frames = 0

    def run_batch() -> None:
        for index, scale, found in zip(batch_ids, batch_scales, backend.detect(np.stack(batch))):
            found = np.asarray(found, dtype=np.float32).copy()
            found[..., :2] *= scale  # back to original-frame pixels
            frame_ids.extend([index] * len(found))
            people.extend(found)
        batch.clear(), batch_ids.clear(), batch_scales.clear()

    for frame in frames:
        cuts.add(frame.index, frame.rgb)
        n_frames = frame.index + 1
        if segments is not None and (frame.index >= len(wanted) or not wanted[frame.index]):
            continue
        batch.append(frame.rgb)
        batch_ids.append(frame.index)
        batch_scales.append(frame.scale)
        if len(batch) == config.batch_frames:
            run_batch()
    if batch:
        run_batch()

    shots = cuts.shots(n_frames)
    if segments is not None:
        shots = restrict_shots(shots, segments)
    keypoints = np.stack(people) if people else np.zeros((0, N_BODY_25, 3), np.float32)
    return VideoPose(fps=info.fps, n_frames=n_frames, shots=shots,
                     frames=np.asarray(frame_ids, dtype=np.int64), keypoints=keypoints.reshape(-1, N_BODY_25, 3),
                     backend=backend.name, backend_version=backend.version, width=info.width, height=info.height)


def _person_index(frame_ids: list[int]) -> list[int]:
    """0, 1, 2, ... within each frame (frames arrive in order)."""
    person, previous, count = [], None, 0
    for frame in frame_ids:
        count = count + 1 if frame == previous else 0
        person.append(count)
        previous = frame
    return person


def pose_unit(payload: PosePayload, context: PoseBackend, config: PoseStageConfig) -> UnitResult:
    """The runner's entry point: the context is the worker's backend, built once."""
    return pose_video(Path(payload.media_path), context, config, payload.segments).unit_result(payload.unit_id)
