"""cut_tubes: HMMR's cleaning rules turn tracks into training tubes with smooth crop boxes.

Per track (which never crosses a shot cut):
  * visible joints per frame, median over `median_window` frames; a detector's miss of up to
    `bridge_frames` (5) frames between two sightings counts as seen (bridged_counts). The released code
    (src/datasets/insta_variety_to_tfrecords.py, clean_video) takes the median of the raw counts, so a
    miss of 3 frames cut its tubes (bridge_frames=0 is the release's rule); inside the tracks of BlazePose
    on the committed real clips 78 misses are of 1-2 frames, 20 of 3-5, 20 longer. 5 is under half the
    crop box's 11-frame median, so every bridged frame's crop box is the median of mostly real sightings;
  * a tube starts where that median exceeds `start_visible` (6: "more than 6 joints") and is cut where
    it falls to `stop_visible` or fewer (4);
  * frames the track missed inside a tube (gaps up to max_gap) are kept with confidence-0 keypoints;
  * tubes shorter than `min_frames` (40) are dropped, longer than `max_frames` (500) split;
  * tracks that are mostly face-and-shoulders (a talking head) are dropped.
The crop box per frame comes from the visible joints, is filled across gaps and smoothed over time (a
median then a Gaussian), and is scaled so the person is `person_px` (150) tall in a `crop_px` (224) crop,
the person's size being the diagonal of the visible joints' box (`box_extent`), as the released code's
src/util/smooth_bbox.py measures it, median-filtered over `box_median_frames` (11) frames.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from manifests.joints import BODY_25, FACE_AND_SHOULDERS, N_BODY_25, joint_indices
from manifests.tables import CROP_PX
from tracking.similarity import boxes_of

_FACE_AND_SHOULDERS = joint_indices(BODY_25, FACE_AND_SHOULDERS)
_BODY_ONLY = np.setdiff1d(np.arange(len(BODY_25)), _FACE_AND_SHOULDERS)
BOX_EXTENTS = ("diagonal", "longest_side")


@dataclass(frozen=True)
class TubeConfig:
    start_visible: int = 6  # a tube starts when more than this many joints are visible (median)
    stop_visible: int = 4  # and is cut when this many or fewer are
    median_window: int = 5
    min_frames: int = 40
    max_frames: int = 500
    max_face_only_share: float = 0.5  # drop tracks whose frames are mostly face-and-shoulders only
    min_confidence: float = 0.1
    person_px: float = 150.0
    crop_px: int = CROP_PX
    smooth_sigma_frames: float = 3.0
    box_extent: str = "diagonal"  # or "longest_side" of the visible joints' box
    box_median_frames: int = 11
    bridge_frames: int = 5  # unseen frames between sightings counted as seen (bridged_counts; 0: the release)

    def __post_init__(self) -> None:
        if not 0 <= self.stop_visible < self.start_visible <= N_BODY_25:
            raise ValueError(f"TubeConfig needs 0 <= stop_visible < start_visible <= {N_BODY_25}, got {self}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"TubeConfig needs 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.bridge_frames < 0:
            raise ValueError(f"TubeConfig.bridge_frames must be >= 0, got {self.bridge_frames}")
        if self.median_window < 1 or self.median_window % 2 == 0:
            raise ValueError(f"TubeConfig.median_window must be odd and >= 1, got {self.median_window}")
        if self.box_median_frames < 1 or self.box_median_frames % 2 == 0:
            raise ValueError(f"TubeConfig.box_median_frames must be odd and >= 1, got {self.box_median_frames}")
        if self.box_extent not in BOX_EXTENTS:
            raise ValueError(f"TubeConfig.box_extent must be one of {BOX_EXTENTS}, got {self.box_extent!r}")


@dataclass(frozen=True)
class Tube:
    track_id: int
    start_frame: int
    end_frame: int  # exclusive
    keypoints: np.ndarray  # (n, 25, 3) float32, confidence 0 where the track was not seen
    bbox: np.ndarray  # (n, 3) float32: center_x_px, center_y_px, scale
    mean_confidence: float
    mean_visible_joints: float

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame


def visible_counts(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    return (keypoints[..., 2] > min_confidence).sum(-1)


def is_face_and_shoulders(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    """(n,) True where joints are seen but none below the shoulders (a talking head)."""
    seen = keypoints[..., 2] > min_confidence
    return seen[:, _FACE_AND_SHOULDERS].any(-1) & ~seen[:, _BODY_ONLY].any(-1)


def dense_track(frames: np.ndarray, keypoints: np.ndarray) -> tuple[int, np.ndarray]:
    """(first frame, (n, 25, 3) keypoints for every frame from first to last seen, zeros where unseen)."""
    first, last = int(frames.min()), int(frames.max())
    dense = np.zeros((last - first + 1, *keypoints.shape[1:]), dtype=np.float32)
    dense[frames - first] = keypoints
    return first, dense


def bridged_counts(counts: np.ndarray, bridge_frames: int) -> np.ndarray:
    """Visible joints per frame, each run of up to `bridge_frames` unseen frames between two sightings
    counted as the fewer of its two sides' (a detector's short miss inside a track does not cut a tube)."""
    seen = np.flatnonzero(counts > 0)
    missed = np.diff(seen) - 1
    short = np.flatnonzero((missed > 0) & (missed <= bridge_frames))
    if not len(short):
        return counts
    out = counts.copy()
    fill = np.minimum(counts[seen[short]], counts[seen[short + 1]])
    first = np.repeat(seen[short] + 1, missed[short])
    out[first + np.arange(len(first)) - np.repeat(np.cumsum(missed[short]) - missed[short], missed[short])] = \
        np.repeat(fill, missed[short])
    return out


def segments(visible_median: np.ndarray, start_visible: int, stop_visible: int) -> list[tuple[int, int]]:
    """[start, end) runs that open where the median count > start_visible and close where it is <= stop_visible."""
    runs, open_at = [], None
    for i, count in enumerate(np.asarray(visible_median).tolist()):  # Python ints: 5x faster than numpy scalars
        if open_at is None and count > start_visible:
            open_at = i
        elif open_at is not None and count <= stop_visible:
            runs.append((open_at, i))
            open_at = None
    if open_at is not None:
        runs.append((open_at, len(visible_median)))
    return runs


def smooth_boxes(keypoints: np.ndarray, config: TubeConfig) -> np.ndarray:
    """(n, 3) center_x_px, center_y_px, scale per frame: filled across unseen frames, smoothed in time."""
    has = (keypoints[..., 2] > config.min_confidence).any(-1)
    n = len(keypoints)
    boxes = boxes_of(keypoints, config.min_confidence)  # one vectorised pass, not a loop over frames
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    sides = boxes[:, 2:] - boxes[:, :2]
    extent = np.linalg.norm(sides, axis=1) if config.box_extent == "diagonal" else sides.max(axis=1)
    height = np.maximum(extent, 1.0)
    index = np.arange(n)
    known = np.flatnonzero(has)
    series = [np.interp(index, known, centre[known, 0]), np.interp(index, known, centre[known, 1]),
              np.interp(index, known, np.log(height[known]))]
    window = min(config.box_median_frames, n if n % 2 else n - 1) or 1
    smoothed = [gaussian_filter1d(median_filter(s, size=window, mode="nearest"), config.smooth_sigma_frames,
                                  mode="nearest") for s in series]
    scale = config.person_px / np.exp(smoothed[2])
    return np.stack([smoothed[0], smoothed[1], scale], axis=1).astype(np.float32)


def cut_tubes(frames: np.ndarray, keypoints: np.ndarray, track_ids: np.ndarray,
              config: TubeConfig = TubeConfig()) -> tuple[list[Tube], Counter]:
    """Tubes from the tracked detections of one video, and a count of what was dropped and why.

    frames, track_ids: (N,) ints; keypoints: (N, 25, 3). Dropped reasons: too_short, face_and_shoulders,
    never_visible (no frame with more than start_visible joints).
    """
    tubes: list[Tube] = []
    dropped: Counter = Counter()
    for track_id in np.unique(track_ids[track_ids >= 0]):  # -1: a detection no track kept
        mine = track_ids == track_id
        first, dense = dense_track(frames[mine], keypoints[mine])
        seen_frames = visible_counts(dense, config.min_confidence) > 0
        if not seen_frames.any():
            dropped["never_visible"] += 1
            continue
        if is_face_and_shoulders(dense[seen_frames], config.min_confidence).mean() > config.max_face_only_share:
            dropped["face_and_shoulders"] += 1
            continue
        counts = bridged_counts(visible_counts(dense, config.min_confidence), config.bridge_frames)
        median = median_filter(counts, size=config.median_window, mode="nearest")
        runs = segments(median, config.start_visible, config.stop_visible)
        if not runs:
            dropped["never_visible"] += 1
            continue
        for start, end in runs:
            for piece_start in range(start, end, config.max_frames):
                piece_end = min(end, piece_start + config.max_frames)
                if piece_end - piece_start < config.min_frames:
                    dropped["too_short"] += 1
                    continue
                tubes.append(_tube(int(track_id), first + piece_start, dense[piece_start:piece_end], config))
    return tubes, dropped


def _tube(track_id: int, start_frame: int, keypoints: np.ndarray, config: TubeConfig) -> Tube:
    seen = keypoints[..., 2] > config.min_confidence
    return Tube(
        track_id=track_id, start_frame=start_frame, end_frame=start_frame + len(keypoints), keypoints=keypoints,
        bbox=smooth_boxes(keypoints, config),
        mean_confidence=float(keypoints[..., 2][seen].mean()) if seen.any() else 0.0,
        mean_visible_joints=float(seen.sum(-1).mean()),
    )


def tube_yield(tube_keypoints: list[np.ndarray], n_detections: int, min_confidence: float = 0.1) -> float:
    """The share of detected person-frames that ended up in a tube: frames of the tubes where the
    person was seen (some joint above min_confidence; gap frames do not count) over all detections.
    tube_keypoints: per tube, (n, 75) or (n, 25, 3). What fragmented tracks waste shows here."""
    if n_detections == 0:
        return 0.0
    seen = sum(int((np.asarray(k).reshape(len(k), -1, 3)[..., 2] > min_confidence).any(-1).sum())
               for k in tube_keypoints)
    return seen / n_detections
