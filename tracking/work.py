"""The tracking stage's per-video work: detections -> tracks -> tubes, read and returned as table rows."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from manifests import DETECTIONS, SHOTS, TRACKS, tube_id_of
from manifests.joints import N_BODY_25
from manifests.rows import TrackRows, TubeRows
from manifests.status import UnitPayload, UnitResult
from manifests.store import read_part
from tracking.link import TrackerConfig, link_tracks
from tracking.tubes import Tube, TubeConfig, cut_tubes


@dataclass(frozen=True)
class TrackingConfig:
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    tubes: TubeConfig = field(default_factory=TubeConfig)

    def version(self) -> str:
        return f"1/{self.tracker}/{self.tubes}".replace(" ", "")


def tubes_from_detections(frames: np.ndarray, keypoints: np.ndarray, shot_starts: np.ndarray,
                          config: TrackingConfig, width: int = 0, height: int = 0
                          ) -> tuple[np.ndarray, list[Tube], Counter]:
    """Track ids per detection, the tubes cut from those tracks, and the dropped tracks by reason
    (width, height: the video's frame size in px, 0 when unknown; see link_tracks' frame_size)."""
    frame_size = (width, height) if width > 0 and height > 0 else None
    track_ids = link_tracks(frames, keypoints, shot_starts, config.tracker, frame_size)
    tubes, dropped = cut_tubes(frames, keypoints, track_ids, config.tubes)
    return track_ids, tubes, dropped


def given_track_ids(tracks: Any, frames: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """The track id of each detection (frame, person) from imported `tracks` rows."""
    key = {(int(f), int(p)): int(t) for f, p, t in zip(tracks["frame"].to_numpy(), tracks["person"].to_numpy(),
                                                       tracks["track_id"].to_numpy())}
    try:
        return np.array([key[(int(f), int(p))] for f, p in zip(frames, persons)], np.int64)
    except KeyError as e:
        raise ValueError(f"detection (frame, person) {e.args[0]} has no imported track row") from e


@dataclass(frozen=True)
class TrackingPayload(UnitPayload):
    """One posed video to track (unit_id: its video id): the dataset and split its tubes inherit, and the
    part files holding its live detections and shots (a worker reads one part, not the pose stage's whole
    status table)."""

    dataset: str
    split: str
    detections_part: str
    shots_part: str
    # For tracks imported from the authors: the part holding them; their track ids are kept and only cut
    # into tubes. None: link our own tracks.
    tracks_part: str | None = None
    width: int = 0  # the video's frame size in px (0: unknown): a track that walked out of it ends
    height: int = 0


def track_video(payload: TrackingPayload, context: Any, config: TrackingConfig) -> UnitResult:
    """Rows of `tracks` and `tubes` for one posed video."""
    video_id = payload.unit_id
    detections = read_part(DETECTIONS, Path(payload.detections_part), [video_id], ["frame", "person", "keypoints"])
    shots = read_part(SHOTS, Path(payload.shots_part), [video_id], ["shot", "start_frame", "fps"]).to_pandas()
    frames = detections["frame"].to_numpy()
    keypoints = (detections["keypoints"].combine_chunks().flatten().to_numpy().reshape(-1, N_BODY_25, 3)
                 if len(detections) else np.zeros((0, N_BODY_25, 3), np.float32))
    shot_starts = np.sort(shots["start_frame"].to_numpy()) if len(shots) else np.array([0])
    if payload.tracks_part is not None:
        track_ids = given_track_ids(read_part(TRACKS, Path(payload.tracks_part), [video_id], ["frame", "person", "track_id"]),
                                    frames, detections["person"].to_numpy())
        tubes, dropped = cut_tubes(frames, keypoints, track_ids, config.tubes)
    else:
        track_ids, tubes, dropped = tubes_from_detections(frames, keypoints, shot_starts, config, payload.width,
                                                          payload.height)
    shot_of = np.searchsorted(shot_starts, frames, side="right") - 1
    fps = float(shots["fps"].iloc[0]) if len(shots) else 0.0
    n = len(frames)
    counters = {f"tracks_dropped_{reason}": float(count) for reason, count in dropped.items()}
    counters.update({"tracks": float(len(np.unique(track_ids[track_ids >= 0]))), "tubes": float(len(tubes)),
                     "tube_frames": float(sum(t.n_frames for t in tubes))})
    shot_of_tube = [int(np.searchsorted(shot_starts, t.start_frame, side="right") - 1) for t in tubes]
    tracks = TrackRows(video_id=[video_id] * n, frame=frames, person=detections["person"].to_numpy(),
                       track_id=track_ids, shot=shot_of.astype(np.int32))
    tube_rows = TubeRows(
        tube_id=[tube_id_of(video_id, t.track_id, t.start_frame) for t in tubes],
        video_id=[video_id] * len(tubes), dataset=[payload.dataset] * len(tubes),
        split=[payload.split] * len(tubes), track_id=[t.track_id for t in tubes],
        shot=shot_of_tube, start_frame=[t.start_frame for t in tubes],
        end_frame=[t.end_frame for t in tubes], n_frames=[t.n_frames for t in tubes],
        fps=[fps] * len(tubes), keypoints=[t.keypoints.reshape(t.n_frames, -1) for t in tubes],
        bbox=[t.bbox for t in tubes], mean_confidence=[t.mean_confidence for t in tubes],
        mean_visible_joints=[t.mean_visible_joints for t in tubes],
    )
    return UnitResult(rows=(tracks, tube_rows), counters=counters)
