"""link_tracks: frame-to-frame Hungarian matching of people into tracks, per shot, with a gate.

Cost of a (track, detection) pair = w * (1 - OKS) + (1 - w) * (1 - IoU), against the track's last seen
pose. Pairs costing more than `max_cost` are never matched, whatever the assignment would gain (as
PHALP does; without a gate, Detect-and-Track swapped identities when one person left as another came
in). A track that misses frames may be matched again within `max_gap` frames; a shot cut ends every
track.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracking.similarity import boxes_of, pairwise_iou, pairwise_oks


@dataclass(frozen=True)
class TrackerConfig:
    """oks_weight: share of OKS in the cost (the rest is box IoU); max_cost: the gate; max_gap: frames a
    track may go unseen and still be continued; min_confidence: a joint counts as visible above this."""

    oks_weight: float = 0.7
    max_cost: float = 0.8
    max_gap: int = 5
    min_confidence: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.oks_weight <= 1:
            raise ValueError(f"TrackerConfig.oks_weight must be in [0, 1], got {self.oks_weight}")
        if not 0 < self.max_cost <= 1:
            raise ValueError(f"TrackerConfig.max_cost must be in (0, 1], got {self.max_cost}")
        if self.max_gap < 0:
            raise ValueError(f"TrackerConfig.max_gap must be >= 0, got {self.max_gap}")


def _assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minimum-cost matching. When every track's cheapest detection is a different one, that is the
    optimum (it reaches the lower bound: the sum of row minima), and the Hungarian solve is skipped; in a
    steady scene that is most frames."""
    if cost.shape[0] <= cost.shape[1]:
        best = cost.argmin(axis=1)
        if len(np.unique(best)) == len(best):
            return np.arange(cost.shape[0]), best
    return linear_sum_assignment(cost)


def link_tracks(frames: np.ndarray, keypoints: np.ndarray, shot_starts: np.ndarray | list[int] = (0,),
                config: TrackerConfig = TrackerConfig()) -> np.ndarray:
    """Track ids for detections of one video.

    frames: (N,) int frame index of each detection (any order).
    keypoints: (N, 25, 3) float BODY_25 (x_px, y_px, confidence).
    shot_starts: first frame of each shot; no track crosses one.
    Returns (N,) int64 track ids, unique within the video, numbered in order of first appearance.
    """
    frames = np.asarray(frames, dtype=np.int64)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    track_ids = np.full(len(frames), -1, dtype=np.int64)
    if len(frames) == 0:
        return track_ids
    order = np.argsort(frames, kind="stable")
    sorted_frames = frames[order]
    boundaries = np.flatnonzero(np.diff(sorted_frames)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(frames)]])
    shot_of = np.searchsorted(np.sort(np.asarray(shot_starts, dtype=np.int64)), sorted_frames[starts], side="right")
    boxes = boxes_of(keypoints, config.min_confidence)

    # Active tracks: their id, last pose, last box and last frame, as parallel arrays.
    active_ids = np.zeros(0, dtype=np.int64)
    active_pose = np.zeros((0, 25, 3))
    active_box = np.zeros((0, 4))
    active_frame = np.zeros(0, dtype=np.int64)
    next_id = 0
    previous_shot = None
    for start, end, shot in zip(starts, ends, shot_of):
        frame = sorted_frames[start]
        rows = order[start:end]
        if shot != previous_shot:  # a cut ends every track
            active_ids, active_pose = active_ids[:0], active_pose[:0]
            active_box, active_frame = active_box[:0], active_frame[:0]
            previous_shot = shot
        alive = frame - active_frame <= config.max_gap + 1
        if not alive.all():
            active_ids, active_pose = active_ids[alive], active_pose[alive]
            active_box, active_frame = active_box[alive], active_frame[alive]
        assigned = np.full(len(rows), -1, dtype=np.int64)
        if len(active_ids):
            cost = (config.oks_weight * (1 - pairwise_oks(active_pose, keypoints[rows], active_box, config.min_confidence))
                    + (1 - config.oks_weight) * (1 - pairwise_iou(active_box, boxes[rows])))
            gated = cost > config.max_cost
            cost = np.where(gated, 1e6, cost)
            track_rows, detection_rows = _assign(cost)
            keep = ~gated[track_rows, detection_rows]
            track_rows, detection_rows = track_rows[keep], detection_rows[keep]
            assigned[detection_rows] = active_ids[track_rows]
            active_pose[track_rows] = keypoints[rows[detection_rows]]
            active_box[track_rows] = boxes[rows[detection_rows]]
            active_frame[track_rows] = frame
        new = np.flatnonzero(assigned < 0)
        if len(new):
            new_ids = np.arange(next_id, next_id + len(new))
            next_id += len(new)
            assigned[new] = new_ids
            active_ids = np.concatenate([active_ids, new_ids])
            active_pose = np.concatenate([active_pose, keypoints[rows[new]]])
            active_box = np.concatenate([active_box, boxes[rows[new]]])
            active_frame = np.concatenate([active_frame, np.full(len(new), frame)])
        track_ids[rows] = assigned
    return track_ids
