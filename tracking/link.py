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


def _pair_cost(a_pose, a_box, b_pose, b_box, config: TrackerConfig) -> np.ndarray:
    """(..., A, B) cost of continuing people `a` with people `b`: blended 1 - OKS and 1 - IoU."""
    return (config.oks_weight * (1 - pairwise_oks(a_pose, b_pose, a_box, config.min_confidence))
            + (1 - config.oks_weight) * (1 - pairwise_iou(a_box, b_box)))


@dataclass(frozen=True)
class _Consecutive:
    """What frame k's people cost against frame k+1's, for every pair of consecutive detection frames.

    costs[k]: (people in frame k, people in frame k+1). match[k, i]: the detection of frame k+1 that
    person i of frame k continues into when `clean[k]`, -1 if every pair of that row is above the gate.
    clean[k]: every row's cheapest ungated detection is a different one, so those row minima are the
    optimal gated assignment (a maximum matching, at the lower bound of the cost) with no Hungarian solve.
    """

    costs: list[np.ndarray]
    match: np.ndarray
    clean: np.ndarray


def _consecutive(keypoints: np.ndarray, boxes: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 config: TrackerConfig, chunk_elements: int = 250_000) -> _Consecutive:
    """Costs and row-minimum matches of consecutive frames, in a few vectorised passes (people padded
    per frame; frames in chunks small enough for the CPU cache, which matters more than the number of
    passes). A track seen in the previous frame, the common case, needs nothing more."""
    n_frames = len(starts)
    counts = ends - starts
    width = int(counts.max())
    pose = np.zeros((n_frames, width, 25, 3))
    box = np.zeros((n_frames, width, 4))
    slot = np.arange(len(keypoints)) - np.repeat(starts, counts)
    frame_of_row = np.repeat(np.arange(n_frames), counts)
    pose[frame_of_row, slot], box[frame_of_row, slot] = keypoints, boxes
    column_exists = np.arange(width) < counts[:, None]  # (frames, width)
    costs = []
    match = np.full((max(n_frames - 1, 0), width), -1, dtype=np.int64)
    step = max(1, chunk_elements // (width * width * 25))
    for first in range(0, n_frames - 1, step):
        last = min(n_frames - 1, first + step)
        block = _pair_cost(pose[first:last], box[first:last], pose[first + 1:last + 1], box[first + 1:last + 1], config)
        costs += [block[i, :counts[first + i], :counts[first + i + 1]] for i in range(last - first)]
        allowed = np.where(column_exists[first + 1:last + 1, None, :] & (block <= config.max_cost), block, np.inf)
        best = allowed.argmin(axis=2)
        matched = np.isfinite(np.take_along_axis(allowed, best[..., None], axis=2)[..., 0])
        match[first:last] = np.where(matched & column_exists[first:last], best, -1)
    # Unique matches per row: sort them, with each unmatched row given a distinct negative stand-in.
    distinct = np.where(match >= 0, match, -1 - np.arange(width))
    clean = (np.diff(np.sort(distinct, axis=1), axis=1) != 0).all(axis=1)
    return _Consecutive(costs, match, clean)


def link_tracks(frames: np.ndarray, keypoints: np.ndarray, shot_starts: np.ndarray | list[int] = (0,),
                config: TrackerConfig = TrackerConfig()) -> np.ndarray:
    """Track ids for detections of one video.

    frames: (N,) int frame index of each detection (any order).
    keypoints: (N, 25, 3) float BODY_25 (x_px, y_px, confidence).
    shot_starts: first frame of each shot; no track crosses one.
    Returns (N,) int64 track ids, unique within the video, numbered in order of first appearance.
    """
    frames = np.asarray(frames, dtype=np.int64)
    track_ids = np.full(len(frames), -1, dtype=np.int64)
    if len(frames) == 0:
        return track_ids
    order = np.argsort(frames, kind="stable")
    sorted_frames = frames[order]
    poses = np.asarray(keypoints, dtype=np.float64)[order]  # everything below is in frame order
    boxes = boxes_of(poses, config.min_confidence)
    boundaries = np.flatnonzero(np.diff(sorted_frames)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(frames)]])
    shot_of = np.searchsorted(np.sort(np.asarray(shot_starts, dtype=np.int64)), sorted_frames[starts], side="right")
    consecutive = _consecutive(poses, boxes, starts, ends, config)

    # Live tracks in two parts: `previous`, the ids of the previous detection frame's people (in row
    # order), and tracks in a gap (unseen since an earlier frame, still within max_gap) as parallel arrays.
    no_ids = np.zeros(0, dtype=np.int64)
    previous = no_ids
    gap_ids, gap_row, gap_frame = no_ids, no_ids, no_ids
    assigned_sorted = np.full(len(frames), -1, dtype=np.int64)
    next_id = 0
    for k, (start, end) in enumerate(zip(starts, ends)):
        frame = sorted_frames[start]
        if k == 0 or shot_of[k] != shot_of[k - 1]:  # a cut ends every track
            previous, gap_ids, gap_row, gap_frame = no_ids, no_ids, no_ids, no_ids
        elif frame - sorted_frames[starts[k - 1]] > config.max_gap + 1:
            previous = no_ids
        if len(gap_ids):
            alive = frame - gap_frame <= config.max_gap + 1
            if not alive.all():
                gap_ids, gap_row, gap_frame = gap_ids[alive], gap_row[alive], gap_frame[alive]
        assigned = np.full(end - start, -1, dtype=np.int64)
        if len(previous) and not len(gap_ids) and consecutive.clean[k - 1]:  # the steady case: no solve
            match = consecutive.match[k - 1, :len(previous)]
            hit = match >= 0
            assigned[match[hit]] = previous[hit]
            unmatched = ~hit
            if unmatched.any():
                gap_ids, gap_row = previous[unmatched], starts[k - 1] + np.flatnonzero(unmatched)
                gap_frame = np.full(len(gap_ids), sorted_frames[starts[k - 1]])
        elif len(previous) or len(gap_ids):
            assigned, (gap_ids, gap_row, gap_frame) = _match_with_gaps(
                previous, (gap_ids, gap_row, gap_frame), k, poses, boxes, starts, sorted_frames, consecutive, config)
        new = np.flatnonzero(assigned < 0)
        if len(new):
            assigned[new] = np.arange(next_id, next_id + len(new))
            next_id += len(new)
        previous = assigned
        assigned_sorted[start:end] = assigned
    track_ids[order] = assigned_sorted
    return track_ids


def _match_with_gaps(previous, gapped, k, poses, boxes, starts, sorted_frames, consecutive: _Consecutive,
                     config: TrackerConfig):
    """The general case of one frame: tracks from the previous frame and tracks back from a gap, matched
    by a gated Hungarian solve. Returns the frame's assigned ids (-1: new) and the tracks now in a gap."""
    start, end = starts[k], (starts[k + 1] if k + 1 < len(starts) else len(poses))
    prev_start = starts[k - 1]
    ids = np.concatenate([previous, gapped[0]])
    rows = np.concatenate([prev_start + np.arange(len(previous)), gapped[1]])
    seen = np.concatenate([np.full(len(previous), sorted_frames[prev_start]), gapped[2]])
    cost = np.empty((len(ids), end - start))
    if len(previous):
        cost[:len(previous)] = consecutive.costs[k - 1]
    if len(gapped[0]):  # tracks back from a gap: their costs are computed here
        old = gapped[1]
        cost[len(previous):] = _pair_cost(poses[old], boxes[old], poses[start:end], boxes[start:end], config)
    gated = cost > config.max_cost
    track_rows, detection_rows = _assign(np.where(gated, 1e6, cost))
    keep = ~gated[track_rows, detection_rows]
    track_rows, detection_rows = track_rows[keep], detection_rows[keep]
    assigned = np.full(end - start, -1, dtype=np.int64)
    assigned[detection_rows] = ids[track_rows]
    unmatched = np.ones(len(ids), dtype=bool)
    unmatched[track_rows] = False
    return assigned, (ids[unmatched], rows[unmatched], seen[unmatched])
