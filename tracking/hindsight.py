"""Checking each tracked detection with the frames after it in view.

The linker (tracking/linker.py) decides a frame knowing only the frames before it; a video is tracked
whole, so once it is linked, each detection can be held against where every track was just before and
just after it. Where a detector missed a person for a frame, the track that lost them takes a
neighbour's detection for that frame, and the neighbour's id goes B, A, B. Seen from both sides, that
detection lies on the neighbour's path better than on the path of the track that took it, and
the tracks table shows no id there (`doubtful`). The tracks keep their state; only the output changes.
"""
from __future__ import annotations

import numpy as np

from tracking.similarity import paired_iou


MAX_ROUNDS = 10  # rounds of doubting: 6 were the most any evaluation or calibration run needed


def doubtful(frames: np.ndarray, boxes: np.ndarray, ids: np.ndarray, span: int) -> np.ndarray:
    """(N,) True for a tracked detection that the path of another track (its box interpolated between
    that track's last sighting before the detection's frame and its first after it) overlaps more than
    the path of its own track does. A path counts only where the two sightings are at most `span` frames
    apart. A track's last detection is held against its path extrapolated from its two sightings before
    (a track whose person left often takes a neighbour in its last frames); its first has no path of its
    own and is never doubtful (a track that starts on someone must be seen again to be kept). The
    doubtful detections leave the tracks and the rest are judged again, until none is left in doubt: a
    mix-up of a few frames shows once its outer frames are gone.
    frames: (N,); boxes: (N, 4); ids: (N,) track per detection, -1 for none."""
    doubt = np.zeros(len(ids), dtype=bool)
    for _ in range(MAX_ROUNDS):
        more = _beaten(frames, boxes, np.where(doubt, -1, ids), span)
        if not more.any():
            break
        doubt |= more
    return doubt


def _beaten(frames: np.ndarray, boxes: np.ndarray, ids: np.ndarray, span: int) -> np.ndarray:
    """One round of `doubtful`."""
    beaten = np.zeros(len(ids), dtype=bool)
    tracked = np.flatnonzero(ids >= 0)
    if span < 2 or len(tracked) < 3:
        return beaten
    sightings = Sightings(frames, ids, tracked)
    own_path, has_own = sightings.path(boxes, ids[tracked], frames[tracked], span)
    onward, has_onward = sightings.onward(boxes, ids[tracked], frames[tracked], span)
    own_path = np.where(has_own[:, None], own_path, onward)
    has_own |= has_onward
    rows = tracked[has_own]
    own_fit = paired_iou(boxes[rows], own_path[has_own])
    path_frame, path_track = sightings.alive()
    path_box, has_path = sightings.path(boxes, path_track, path_frame, span)
    path_frame, path_track, path_box = path_frame[has_path], path_track[has_path], path_box[has_path]
    k, item = side_by_side(frames[rows], boxes[rows], path_frame, path_box)
    other = path_track[item] != ids[rows[k]]
    k, item = k[other], item[other]
    beaten[rows[k[paired_iou(boxes[rows[k]], path_box[item]) > own_fit[k]]]] = True
    return beaten


def side_by_side(frames: np.ndarray, boxes: np.ndarray, item_frames: np.ndarray, item_boxes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(k, item): every pair of box k and item box `item` of the same frame whose x extents overlap
    (any other pair has IoU 0), found by one sort instead of trying every pair: 50 people in a frame
    make 2,500 pairs, of which a handful overlap."""
    if not len(item_frames) or not len(frames):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # One sort key, frame first, then the left edge: an item overlapping box k starts after k's left edge
    # minus the widest item and before k's right edge, a contiguous run of the sorted keys.
    widest = float((item_boxes[:, 2] - item_boxes[:, 0]).max())
    low = min(float(item_boxes[:, 0].min()), float(boxes[:, 0].min())) - widest - 1
    stride = max(float(item_boxes[:, 2].max()), float(boxes[:, 2].max())) - low + 1
    keys = item_frames * stride + (item_boxes[:, 0] - low)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.searchsorted(keys, frames * stride + (boxes[:, 0] - widest - low), side="left")
    count = np.searchsorted(keys, frames * stride + (boxes[:, 2] - low), side="left") - first
    k = np.repeat(np.arange(len(frames)), count)
    item = order[np.repeat(first, count) + np.arange(len(k)) - np.repeat(np.cumsum(count) - count, count)]
    overlapping = (item_boxes[item, 2] > boxes[k, 0]) & (item_boxes[item, 0] < boxes[k, 2])
    return k[overlapping], item[overlapping]


class Sightings:
    """The tracked detections of a video ordered by (track, frame), for finding a track's sightings
    on either side of a frame without a loop over tracks."""

    def __init__(self, frames: np.ndarray, ids: np.ndarray, tracked: np.ndarray) -> None:
        self.frames, self.ids = frames, ids
        self.rows = tracked[np.lexsort((frames[tracked], ids[tracked]))]
        self.stride = int(frames.max()) + 2  # no frame reaches it: (track, frame) packs into one sort key
        self.keys = ids[self.rows] * self.stride + frames[self.rows]
        track_ids, first = np.unique(ids[self.rows], return_index=True)
        last = np.append(first[1:], len(self.rows)) - 1
        self.track_ids = track_ids
        self.first_frame, self.last_frame = frames[self.rows[first]], frames[self.rows[last]]

    def path(self, boxes: np.ndarray, tracks: np.ndarray, at: np.ndarray, span: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """(box (K, 4), has_path (K,)): track tracks[k]'s box in frame at[k], interpolated between its
        last sighting before that frame and its first after it; has_path False where either is missing
        or they are more than `span` frames apart."""
        before, after = self._around(tracks, at)
        has_path = (before >= 0) & (after >= 0)
        row_before, row_after = self.rows[before], self.rows[after]
        has_path &= self.frames[row_after] - self.frames[row_before] <= span
        return self._line(boxes, row_before, row_after, at), has_path

    def onward(self, boxes: np.ndarray, tracks: np.ndarray, at: np.ndarray, span: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(box (K, 4), has_path (K,)) as `path`, for a track seen last in frame at[k]: its box there
        extrapolated from its two sightings before, at most `span` frames before it."""
        latest, after = self._around(tracks, at)
        earlier = np.maximum(latest - 1, 0)
        row_earlier, row_latest = self.rows[earlier], self.rows[latest]
        has_path = ((after < 0) & (latest >= 1) & (self.ids[row_earlier] == tracks)
                    & (at - self.frames[row_earlier] <= span))
        return self._line(boxes, row_earlier, row_latest, at), has_path

    def _around(self, tracks: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(before, after): where in `rows` track tracks[k]'s last sighting before frame at[k] and its
        first after it are; -1 where it has none."""
        query = tracks * self.stride + at
        top = len(self.keys) - 1
        before = np.searchsorted(self.keys, query, side="left") - 1
        after = np.searchsorted(self.keys, query, side="right")
        before = np.where((before >= 0) & (self.ids[self.rows[np.clip(before, 0, top)]] == tracks), before, -1)
        after = np.where((after <= top) & (self.ids[self.rows[np.clip(after, 0, top)]] == tracks), after, -1)
        return before, after

    def _line(self, boxes: np.ndarray, row_a: np.ndarray, row_b: np.ndarray, at: np.ndarray) -> np.ndarray:
        """(K, 4) the boxes on the straight line through detections row_a and row_b, at frames `at`."""
        frame_a, frame_b = self.frames[row_a], self.frames[row_b]
        share = ((at - frame_a) / np.maximum(frame_b - frame_a, 1))[:, None]
        return (1 - share) * boxes[row_a] + share * boxes[row_b]

    def alive(self) -> tuple[np.ndarray, np.ndarray]:
        """(frames, tracks): each track with each frame strictly between its first and last sightings."""
        lengths = np.maximum(self.last_frame - self.first_frame - 1, 0)
        tracks = np.repeat(self.track_ids, lengths)
        offsets = np.arange(len(tracks)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(self.first_frame + 1, lengths) + offsets, tracks
