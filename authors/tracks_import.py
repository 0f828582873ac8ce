"""The import stage's work for one video of the authors' tracks: `shots`, `detections` and `tracks` rows.

The video was harvested by us (its `videos` row comes in the payload): the import re-commits that row
with the rest, because the import stage now owns the video's rows in every table it may write. The
authors' tracks are already split at shot cuts and their folders are the track ids, so one shot spans
the video and the tracking stage cuts tubes from these tracks without linking them again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from authors.tracks import read_video_tracks
from manifests.joints import KEYPOINT_WIDTH
from manifests.rows import DetectionRows, ShotRows, TrackRows, VideoRows
from manifests.status import SkipUnit, UnitPayload, UnitResult
from manifests.errors import InputError

TRACKS_BACKEND = "openpose-authors"  # detections' backend: the authors' OpenPose runs, as they published them
TRACKS_IMPORT_VERSION = "tracks/1"


class TracksMismatch(InputError, ValueError):
    """Tracks that refer to frames the harvested video does not have."""


@dataclass(frozen=True)
class TracksPayload(UnitPayload):
    """One harvested video whose authors' tracks to import (unit_id: our video id): its folder of track
    folders, and its `videos` row (one row), committed again by the import with its tracks."""

    video_dir: str
    video: VideoRows


def tracks_unit(payload: TracksPayload, context: Any) -> UnitResult:
    video_id = payload.unit_id
    duration_s, fps = float(payload.video.duration_s[0]), float(payload.video.fps[0])
    tracks = read_video_tracks(payload.video_dir)
    if not tracks:
        raise SkipUnit("no_tracks", f"{payload.video_dir} has no track with a JSON frame")
    frames = np.concatenate([t.frames for t in tracks])
    n_video_frames = max(1, int(math.ceil(duration_s * fps - 1e-6)))
    if frames.max() >= n_video_frames + 1:  # one frame of slack for rounding of the duration
        raise TracksMismatch(f"{payload.video_dir}: tracks reach frame {frames.max()} but {video_id} has about "
                             f"{n_video_frames} frames at {fps:g} fps: not the video the authors tracked")
    track_ids = np.concatenate([np.full(len(t.frames), t.track_id, np.int64) for t in tracks])
    keypoints = np.concatenate([t.keypoints for t in tracks]).reshape(-1, KEYPOINT_WIDTH)
    order = np.lexsort((track_ids, frames))
    frames, track_ids, keypoints = frames[order], track_ids[order], keypoints[order]
    person = pd.Series(frames).groupby(frames).cumcount().to_numpy().astype(np.int32)
    n = len(frames)
    end_frame = max(n_video_frames, int(frames.max()) + 1)
    return UnitResult(
        rows=(
            payload.video,
            ShotRows(video_id=[video_id], shot=[0], start_frame=[0], end_frame=[end_frame], fps=[fps]),
            DetectionRows(video_id=[video_id] * n, frame=frames, person=person, keypoints=keypoints,
                          backend=[TRACKS_BACKEND] * n, backend_version=[TRACKS_IMPORT_VERSION] * n),
            TrackRows(video_id=[video_id] * n, frame=frames, person=person, track_id=track_ids,
                      shot=np.zeros(n, np.int32)),
        ),
        counters={"tracks": float(len(tracks)), "detections": float(n)},
    )
