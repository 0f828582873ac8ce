"""link_tracks: people linked into tracks frame by frame, per shot, against where each track is going.

Per frame:
  1. every live track (seen in the last `max_gap` + 1 frames) predicts its box and pose at this frame
     (tracking/motion.py); a track unseen for a while predicts further, with a wider spread;
  2. cost of a (track, detection) pair = w * (1 - keypoint similarity) + (1 - w) * (1 - box IoU), both
     against the prediction (tracking/similarity.py), the likeness discounted for a vague prediction
     (pair_costs); pairs above the gate are never matched, whatever the assignment would gain (as
     PHALP does; Detect-and-Track's ungated matching swapped identities);
  3. confident detections are matched first (Hungarian); then, as in ByteTrack, the detections scoring
     under `start_score` may continue the tracks still unmatched, but never start one (their id is -1
     when they continue none);
  4. a track still unmatched may take a detection left over under a looser gate (loose_cost) when the two
     are each other's only candidate under it: a real detector's boxes on small people jitter more than
     the calibrated gate allows, and nobody else is there to be confused with; a confirmed track seen in
     the last frame is held to the looser gate in every pass (else its person, jittered just over the
     gate, went to a lost track whose vague prediction still fit them, for a frame);
  5. a detection that a second confirmed track, seen in the last rival_gap frames, fits almost as well as
     the track that took it (costs within defer_margin; for two taken detections, exchanging them) is left to
     no track in this frame: the two coast on their predictions and the next frame decides, instead of a
     detector's jitter giving a person another's id for a frame (A, B, A: id flapping);
  6. a detection taken by a track whose predicted box overlaps such a rival's almost wholly (IoU at least
     unsure_iou), the rival fitting it under the gate too and the track itself only loosely (distance at
     least unsure_distance), keeps no id in the output (the track is still updated with it): where two
     people are each where the other is expected, a detector's jitter decides, and a frame labelled by
     a coin toss is a flap in the tracks table;
  7. a track found again after a gap also takes, in the output, the previous frame's detection that its
     new one continues (box IoU at least hand_back_iou, each the other's best overlap) from a track that
     held it for that frame only (it took nothing in this one): a track lost for long is no rival, and
     the one seen last, predicted there, took the person who had just come back into view;
  8. a track found again after a gap absorbs a track that started in its place while it was unseen (never
     seen in the same frame as it, and fitting the same detection under the gate, or seen along the
     found track's path through its gap): one person keeps one id, instead of the old and the new id
     taking turns on them;
  9. a track unseen since before the last frame whose predicted box centre has left the frame (when the
     frame's size is given) ends: whoever comes in at that edge later is someone else;
  10. unmatched confident detections (not deferred ones) start tracks; a track is tentative until seen
      min_detections times, and a tentative track unseen for more than tentative_gap frames ends (its
      detections get -1), so that a one-frame stray cannot wait out a long gap and take the next person
      who comes by. A shot cut ends every track;
  11. once the video is linked, a detection that another track's path through its frame fits better than
      its own track's path keeps no id in the output (tracking/hindsight.py): the frame after a track
      took a neighbour, while its own person was missed, shows whose the detection was.
The defaults come from measured cost distributions (tracking/calibrate.py, the README's tracking section).
Steady stretches (the same people, each matched the obvious way, frame after frame) are linked in
batches (tracking/linker.py) with the same result as frame by frame, several times faster.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracking import calibrated
from tracking.motion import Filters, MotionConfig
from tracking.similarity import COCO_SIGMAS, boxes_of, detection_scores, pairwise_iou, pairwise_pose_similarity


@dataclass(frozen=True)
class TrackerConfig:
    """oks_weight: share of the keypoint similarity in the cost (the rest is box IoU); max_cost: the gate;
    max_gap: frames a track may go unseen and still be continued; min_confidence: a joint counts as
    visible above this; start_score: detections scoring below this (tracking.similarity.detection_scores)
    only continue tracks (0: every detection may start one); min_detections: a track seen fewer times is
    dropped (its detections get -1), as SORT keeps only tracks confirmed by a few hits; tentative_gap: such
    an unconfirmed track ends when unseen for more frames than this; loose_cost: a looser gate for a track
    left unmatched and a detection left over when each is the other's only candidate under it (0: off);
    merge: a track found again absorbs the one that started in its place; defer_margin: a detection two
    tracks fit within this cost of each other is left to neither for a frame (0: off); rival_gap: only
    confirmed tracks seen in the last this many frames count as the second track; unsure_iou, unsure_distance: a
    detection taken by a track whose predicted box overlaps such a rival's by at least unsure_iou, the rival
    fitting it under the gate too, keeps no id in the output when its own distance (1 - likeness) to the
    track is at least unsure_distance (unsure_iou 1: off, as before); hand_back_iou: a track found again
    takes the detection another held in its place for the frame before when their boxes overlap this much
    (1: off, as before); hindsight_span: once the video is linked, a detection that another track's path
    overlaps more than its own track's keeps no id, a path being a track's box interpolated between its
    sightings on either side at most this many frames apart (for its last detection, extrapolated from
    the two before; tracking/hindsight.py), 0: off, as before; sigmas:
    "calibrated" (measured spreads and weights) or "coco" (COCO's sigmas, equal weights); oks_scale:
    multiplies every joint's spread; motion: how tracks predict."""

    oks_weight: float = calibrated.OKS_WEIGHT
    max_cost: float = calibrated.MAX_COST
    max_gap: int = calibrated.MAX_GAP
    min_confidence: float = 0.1
    start_score: float = 0.5
    min_detections: int = 3
    tentative_gap: int = 2
    loose_cost: float = 0.75
    merge: bool = True
    defer_margin: float = calibrated.DEFER_MARGIN
    rival_gap: int = 3
    unsure_iou: float = 0.7
    unsure_distance: float = 0.15
    hand_back_iou: float = 0.7
    hindsight_span: int = 24
    sigmas: str | tuple[float, ...] = "calibrated"
    joint_weights: tuple[float, ...] | None = None
    oks_scale: float = calibrated.OKS_SCALE
    motion: MotionConfig = field(default_factory=MotionConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.oks_weight <= 1:
            raise ValueError(f"TrackerConfig.oks_weight must be in [0, 1], got {self.oks_weight}")
        if not 0 < self.max_cost <= 1:
            raise ValueError(f"TrackerConfig.max_cost must be in (0, 1], got {self.max_cost}")
        if not 0 <= self.loose_cost <= 1:
            raise ValueError(f"TrackerConfig.loose_cost must be in [0, 1], got {self.loose_cost}")
        if self.max_gap < 0:
            raise ValueError(f"TrackerConfig.max_gap must be >= 0, got {self.max_gap}")
        if not 0 <= self.start_score <= 1:
            raise ValueError(f"TrackerConfig.start_score must be in [0, 1], got {self.start_score}")
        if self.defer_margin < 0:
            raise ValueError(f"TrackerConfig.defer_margin must be >= 0, got {self.defer_margin}")
        if not 0 < self.unsure_iou <= 1:
            raise ValueError(f"TrackerConfig.unsure_iou must be in (0, 1], got {self.unsure_iou}")
        if not 0 < self.hand_back_iou <= 1:
            raise ValueError(f"TrackerConfig.hand_back_iou must be in (0, 1], got {self.hand_back_iou}")
        if not 0 <= self.unsure_distance <= 1:
            raise ValueError(f"TrackerConfig.unsure_distance must be in [0, 1], got {self.unsure_distance}")
        if self.hindsight_span < 0:
            raise ValueError(f"TrackerConfig.hindsight_span must be >= 0, got {self.hindsight_span}")
        if self.rival_gap < 1:
            raise ValueError(f"TrackerConfig.rival_gap must be >= 1, got {self.rival_gap}")
        if self.tentative_gap < 0:
            raise ValueError(f"TrackerConfig.tentative_gap must be >= 0, got {self.tentative_gap}")
        if self.min_detections < 1:
            raise ValueError(f"TrackerConfig.min_detections must be >= 1, got {self.min_detections}")
        if not (self.sigmas in ("calibrated", "coco") or (isinstance(self.sigmas, tuple) and len(self.sigmas) == 25)):
            raise ValueError(f"TrackerConfig.sigmas must be 'calibrated', 'coco' or 25 spreads, got {self.sigmas!r}")
        if self.joint_weights is not None and len(self.joint_weights) != 25:
            raise ValueError(f"TrackerConfig.joint_weights must be 25 weights, got {len(self.joint_weights)}")
        if self.oks_scale <= 0:
            raise ValueError(f"TrackerConfig.oks_scale must be > 0, got {self.oks_scale}")

    def joint_spreads(self) -> tuple[np.ndarray, np.ndarray]:
        """(25,) spreads in body heights (oks_scale applied) and (25,) joint weights."""
        if isinstance(self.sigmas, tuple):
            spreads, weights = np.array(self.sigmas), calibrated.WEIGHTS
        elif self.sigmas == "coco":
            spreads, weights = COCO_SIGMAS, np.ones(len(COCO_SIGMAS))
        else:
            spreads, weights = calibrated.SIGMAS, calibrated.WEIGHTS
        return spreads * self.oks_scale, np.array(self.joint_weights) if self.joint_weights else weights


@dataclass(frozen=True)
class Detections:
    """Per-detection quantities computed once for a whole video, in processing order (by frame)."""

    frames: np.ndarray  # (N,)
    xy: np.ndarray  # (N, 25, 2) px
    visible: np.ndarray  # (N, 25) bool
    boxes: np.ndarray  # (N, 4)
    measured: np.ndarray  # (N, 3) box centre x, y (px) and log height: what the motion filter sees
    confident: np.ndarray  # (N,) bool: may start a track

    @classmethod
    def of(cls, frames: np.ndarray, keypoints: np.ndarray, config: TrackerConfig) -> "Detections":
        boxes = boxes_of(keypoints, config.min_confidence)
        height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        measured = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, np.log(height)], axis=1)
        return cls(frames, keypoints[..., :2], keypoints[..., 2] > config.min_confidence, boxes, measured,
                   detection_scores(keypoints, config.min_confidence) >= config.start_score)


@dataclass(frozen=True)
class Prediction:
    """Where tracks are expected in a frame: xy (T, 25, 2) px, visible (T, 25), variance (T, 25) px^2 of
    each joint's sighting around it, sharpness (T,) (tracking.motion.Filters.predict), box (T, 4)."""

    xy: np.ndarray
    visible: np.ndarray
    variance: np.ndarray
    sharpness: np.ndarray
    box: np.ndarray


def moved(d: Detections, last_rows: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(xy (..., 25, 2), box (..., 4)): the pose and box of detections `last_rows` (...,) moved and scaled
    onto predicted box states `mean` (..., 3)."""
    ratio = np.exp(mean[..., 2] - d.measured[last_rows, 2])
    centre_then = d.measured[last_rows, :2]
    xy = (d.xy[last_rows] - centre_then[..., None, :]) * ratio[..., None, None] + mean[..., None, :2]
    box = (d.boxes[last_rows] - np.concatenate([centre_then, centre_then], -1)) * ratio[..., None]
    return xy, box + np.concatenate([mean[..., :2], mean[..., :2]], -1)


def predict(d: Detections, filters: Filters, slots: np.ndarray, last_rows: np.ndarray, frames_ahead: np.ndarray,
            sigmas: np.ndarray) -> Prediction:
    """Tracks at filter `slots`, last seen as detections `last_rows` `frames_ahead` frames ago; each
    joint's variance is its own spread (sigmas, body heights) plus the whole body's."""
    mean, body_variance, sharpness = filters.predict(slots, frames_ahead)
    xy, box = moved(d, last_rows, mean)
    variance = sigmas * sigmas * np.exp(2 * mean[:, 2:3]) + body_variance[:, None]
    return Prediction(xy, d.visible[last_rows], variance, sharpness, box)


def pair_costs(prediction: Prediction, d: Detections, rows: np.ndarray, weights: np.ndarray,
               oks_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(cost, distance), both (tracks, detections), against the prediction; distance = 1 - likeness is
    what the gates test.

    The likeness of a pair is w * keypoint similarity + (1 - w) * IoU. The gate allows a pair whose
    1 - likeness is at most max_cost (TrackerConfig); the likeness is measured against the prediction's own spread, so a
    track unseen for a while may be found again further away. The cost that the assignment minimises is
    1 - sharpness * likeness: a vague prediction (a track long unseen) has its likeness discounted, so it
    may take a detection that no sharper track fits, but not one that a track followed frame by frame
    predicts well. For a track seen in the last frame, cost = w (1 - OKS) + (1 - w) (1 - IoU)."""
    similarity = pairwise_pose_similarity(prediction.xy, prediction.visible, prediction.variance, d.xy[rows],
                                          d.visible[rows], weights)
    likeness = oks_weight * similarity + (1 - oks_weight) * pairwise_iou(prediction.box, d.boxes[rows])
    return 1 - prediction.sharpness[:, None] * likeness, 1 - likeness


def assign(cost: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the minimum-cost matching among allowed pairs. When every row's cheapest column is
    allowed and a different one, that is the optimum (it reaches the lower bound, the sum of row minima)
    and the Hungarian solve is skipped: in a steady scene that is most frames."""
    if cost.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    best = cost.argmin(axis=1)
    if allowed[np.arange(len(cost)), best].all() and len(np.unique(best)) == len(best):
        return np.arange(len(cost)), best
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
    keep = allowed[rows, cols]
    return rows[keep], cols[keep]


def link_tracks(frames: np.ndarray, keypoints: np.ndarray, shot_starts: np.ndarray | list[int] = (0,),
                config: TrackerConfig = TrackerConfig(),
                frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """Track ids for detections of one video.

    frames: (N,) int frame index of each detection (any order).
    keypoints: (N, 25, 3) float BODY_25 (x_px, y_px, confidence).
    shot_starts: first frame of each shot; no track crosses one.
    frame_size: (width, height) px of the video, when known: a track predicted to have left the frame ends.
    Returns (N,) int64 track ids, unique within the video, numbered in order of first appearance;
    -1 for a low-scoring detection that continued no track.
    """
    from tracking.linker import Linker

    frames = np.asarray(frames, dtype=np.int64)
    track_ids = np.full(len(frames), -1, dtype=np.int64)
    if len(frames) == 0:
        return track_ids
    keypoints = np.asarray(keypoints, dtype=np.float64)
    boxes = boxes_of(keypoints, config.min_confidence)
    # A canonical order inside each frame (by box, then joints), so that the order the detections come
    # in never changes the tracks.
    order = np.lexsort((keypoints[:, :, 1].sum(1), keypoints[:, :, 0].sum(1), boxes[:, 1], boxes[:, 0], frames))
    detections = Detections.of(frames[order], keypoints[order], config)
    shots = np.sort(np.asarray(shot_starts, dtype=np.int64))
    shot_of = np.searchsorted(shots, detections.frames, side="right")
    track_ids[order] = Linker(detections, config, frame_size).run(shot_of)
    return track_ids
