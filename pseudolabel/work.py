"""The pose stage's per-video work: decode once, find shot cuts and 2D poses in the same pass."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from manifests.joints import KEYPOINT_WIDTH
from manifests.status import UnitResult
from pseudolabel.backends import BackendSpec, PoseBackend
from media.decode import DecodeConfig, open_stream
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


def pose_video(payload: Mapping[str, Any], backend: PoseBackend, config: PoseStageConfig) -> UnitResult:
    """Rows of `shots` and `detections` for one video (payload: unit_id, media_path, and segments: the
    [start_s, end_s) time ranges of the authors' clips in it, or None for the whole video). Frames outside
    the segments are decoded (for cut detection) but never posed, and shots are cut to the segments."""
    video_id = payload["unit_id"]
    info, frames = open_stream(Path(payload["media_path"]), config.decode)
    segments_s = payload.get("segments")
    segments = segment_frames(list(segments_s), info.fps) if segments_s is not None and len(segments_s) else None
    wanted = np.zeros(0, bool)
    if segments is not None:
        wanted = np.zeros(max(end for _, end in segments), bool)
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
    person = _person_index(frame_ids)
    keypoints = np.stack(people).reshape(-1, KEYPOINT_WIDTH) if people else np.zeros((0, KEYPOINT_WIDTH), np.float32)
    n = len(frame_ids)
    return UnitResult(
        tables={
            "shots": {"video_id": [video_id] * len(shots), "shot": list(range(len(shots))),
                      "start_frame": [a for a, _ in shots], "end_frame": [b for _, b in shots],
                      "fps": [info.fps] * len(shots)},
            "detections": {"video_id": [video_id] * n, "frame": frame_ids, "person": person, "keypoints": keypoints,
                           "backend": [backend.name] * n, "backend_version": [backend.version] * n},
        },
        counters={"frames": n_frames, "detections": n, "shot_cuts": len(shots) - 1},
    )


def _person_index(frame_ids: list[int]) -> list[int]:
    """0, 1, 2, ... within each frame (frames arrive in order)."""
    person, previous, count = [], None, 0
    for frame in frame_ids:
        count = count + 1 if frame == previous else 0
        person.append(count)
        previous = frame
    return person


def pose_unit(payload: Mapping[str, Any], context: PoseBackend, config: PoseStageConfig) -> UnitResult:
    """The runner's entry point: the context is the worker's backend, built once."""
    return pose_video(payload, context, config)
