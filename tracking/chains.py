"""Steady stretches for the linker (tracking/linker.py): each detection's obvious match in the next frame, and
where the runs of obviously matched frames end. A stretch of such frames is a candidate for linking in one
batch; the linker checks the costs before it keeps any of it."""
from __future__ import annotations

import numpy as np

from tracking.link import Detections

MAX_OBVIOUS_STEP = 0.5  # body heights: a provisional match further than this is not obvious


def provisional_chains(d: Detections, starts: np.ndarray, ends: np.ndarray, shot_of: np.ndarray,
                        chunk_elements: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """(successor (N,): each detection's obvious match in the next frame, -1 if none; run_end (F,): for
    frame k, the first frame at or after it that is not obviously matched to its previous frame).

    Frame k is obviously matched to frame k - 1 when it is the next frame of the same shot, has as many
    detections, all confident, and each detection of k - 1 has a different nearest detection in k,
    within MAX_OBVIOUS_STEP body heights."""
    n_frames = len(starts)
    successor = np.full(len(d.frames), -1, dtype=np.int64)
    counts = ends - starts
    width = int(counts.max())
    centre = np.full((n_frames, width, 2), np.nan)
    height = np.ones((n_frames, width))
    slot = np.arange(len(d.frames)) - np.repeat(starts, counts)
    frame_of_row = np.repeat(np.arange(n_frames), counts)
    centre[frame_of_row, slot] = d.measured[:, :2]
    height[frame_of_row, slot] = np.exp(d.measured[:, 2])
    all_confident = np.logical_and.reduceat(d.confident, starts)
    frame_values = d.frames[starts]
    obvious = np.zeros(n_frames, dtype=bool)
    nearest = np.zeros((n_frames, width), dtype=np.int64)  # for frame k: slot in frame k of frame k-1's slots
    step = max(1, chunk_elements // (width * width))
    for first in range(1, n_frames, step):
        last = min(n_frames, first + step)
        gap = np.linalg.norm(centre[first - 1:last - 1, :, None] - centre[first:last, None], axis=-1)
        gap = np.where(np.isnan(gap), np.inf, gap) / height[first - 1:last - 1, :, None]
        best = gap.argmin(axis=2)  # (frames, width)
        close = np.take_along_axis(gap, best[..., None], axis=2)[..., 0] <= MAX_OBVIOUS_STEP
        exists = np.arange(width) < counts[first - 1:last - 1, None]
        distinct = (np.diff(np.sort(np.where(exists, best, width + np.arange(width)), axis=1), axis=1) != 0).all(1)
        obvious[first:last] = ((close | ~exists).all(1) & distinct & (counts[first:last] == counts[first - 1:last - 1])
                               & (frame_values[first:last] == frame_values[first - 1:last - 1] + 1)
                               & (shot_of[starts[first:last]] == shot_of[starts[first - 1:last - 1]])
                               & all_confident[first:last])
        nearest[first:last] = best
    followed = np.flatnonzero(obvious[np.minimum(frame_of_row + 1, n_frames - 1)] & (frame_of_row + 1 < n_frames))
    next_frame = frame_of_row[followed] + 1
    successor[followed] = starts[next_frame] + nearest[next_frame, slot[followed]]
    # run_end[k]: the first frame >= k that is not obviously matched (a reverse running minimum).
    index = np.where(obvious, n_frames, np.arange(n_frames))
    run_end = np.minimum.accumulate(index[::-1])[::-1]
    return successor, run_end
