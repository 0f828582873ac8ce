"""Pairs of a track's prediction and a detection, labelled same person or not, and what they cost: the
measurements tracking/calibrate.py sets the tracker's constants from.

The pairs come from following every true person of a scene with the tracker's own motion filter and
prediction (an oracle that always links the right detection); each prediction is paired with every
detection of its frame: the one showing its person ("same"), the others ("different").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracking.link import Detections, TrackerConfig, moved
from tracking.motion import Filters
from tracking.scenes import Scene
from tracking.similarity import boxes_of, pairwise_iou


@dataclass(frozen=True)
class Pairs:
    """One row per (prediction, detection) pair. d2: (P, 25) squared joint distances px^2; both: (P, 25)
    joint seen in both; height: (P,) predicted height px; body_variance: (P,) px^2 and sharpness: (P,),
    as tracking.motion.Filters.predict gives them; iou: (P,); same: (P,) bool; event: (P,) which
    prediction (a track at a frame) the pair belongs to; gap: (P,) frames since the track was last seen;
    residual: (S, 25, 2) same-person joint residuals around the body's, in heights, one frame apart
    (NaN for joints not seen in both)."""

    d2: np.ndarray
    both: np.ndarray
    height: np.ndarray
    body_variance: np.ndarray
    sharpness: np.ndarray
    iou: np.ndarray
    same: np.ndarray
    event: np.ndarray
    gap: np.ndarray
    residual: np.ndarray

    @staticmethod
    def concatenate(parts: list["Pairs"]) -> "Pairs":
        offsets = np.cumsum([0] + [int(p.event.max()) + 1 if len(p.event) else 0 for p in parts[:-1]])
        fields = {name: np.concatenate([getattr(p, name) for p in parts]) for name in
                  ("d2", "both", "height", "body_variance", "sharpness", "iou", "same", "gap", "residual")}
        return Pairs(event=np.concatenate([p.event + o for p, o in zip(parts, offsets)]), **fields)


def collect_pairs(scene: Scene, config: TrackerConfig = TrackerConfig()) -> Pairs:
    """Follow each true person of `scene` with the tracker's motion filter (always linking the right
    detection; a person unseen for more than max_gap frames starts afresh) and pair every prediction
    with every detection of its frame."""
    order = np.lexsort((scene.truth, scene.frames))
    frames, truth = scene.frames[order], scene.truth[order]
    d = Detections.of(frames, np.asarray(scene.keypoints, dtype=np.float64)[order], config)
    filters = Filters(config.motion)
    slot_of: dict[int, int] = {}
    last_row: dict[int, int] = {}
    shot_of = np.searchsorted(np.sort(np.asarray(scene.shot_starts)), frames, side="right")
    rows_out: list[tuple] = []
    residuals = []
    boundaries = np.flatnonzero(np.diff(frames)) + 1
    for start, end in zip(np.concatenate([[0], boundaries]), np.concatenate([boundaries, [len(frames)]])):
        frame = int(frames[start])
        live = [p for p in slot_of if frame - frames[last_row[p]] <= config.max_gap + 1
                and shot_of[last_row[p]] == shot_of[start]]
        rows = np.arange(start, end)
        if live:
            slots = np.array([slot_of[p] for p in live])
            last = np.array([last_row[p] for p in live])
            gap = frame - frames[last]
            mean, body_variance, sharpness = filters.predict(slots, gap)
            xy, box = moved(d, last, mean)
            height = np.exp(mean[:, 2])
            d2 = ((xy[:, None] - d.xy[rows][None]) ** 2).sum(-1)  # (T, D, 25)
            both = d.visible[last][:, None] & d.visible[rows][None]
            iou = pairwise_iou(box, d.boxes[rows])
            for i, person in enumerate(live):
                same = truth[rows] == person
                n = len(rows)
                rows_out.append((d2[i], both[i], np.full(n, height[i]), np.full(n, body_variance[i]),
                                 np.full(n, sharpness[i]), iou[i], same, np.full(n, len(rows_out)), np.full(n, gap[i])))
                if gap[i] == 1 and same.any():
                    j = np.flatnonzero(same)[0]
                    error = xy[i] - d.xy[rows[j]]
                    seen = both[i, j]
                    if seen.sum() >= 5:  # joint residuals around the common (body) error
                        around = error - error[seen].mean(0)
                        residuals.append(np.where(seen[:, None], around / height[i], np.nan))
        for row in rows:
            person = int(truth[row])
            if person < 0:
                continue
            if person in live:
                filters.update(np.array([slot_of[person]]), np.array([frame - frames[last_row[person]]]),
                               d.measured[[row]])
            else:
                slot_of.setdefault(person, len(slot_of))
                filters.start(np.array([slot_of[person]]), d.measured[[row]])
            last_row[person] = row
    if not rows_out:
        return Pairs(np.zeros((0, 25)), np.zeros((0, 25), bool), *(np.zeros(0),) * 4, np.zeros(0, bool),
                     np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 25, 2)))
    columns = [np.concatenate(c) for c in zip(*rows_out)]
    return Pairs(d2=columns[0], both=columns[1].astype(bool), height=columns[2], body_variance=columns[3],
                 sharpness=columns[4], iou=columns[5], same=columns[6].astype(bool),
                 event=columns[7].astype(np.int64), gap=columns[8].astype(np.int64),
                 residual=np.stack(residuals) if residuals else np.zeros((0, 25, 2)))


def tracklet_scene(name: str, frames: np.ndarray, keypoints: np.ndarray, min_iou: float = 0.4,
                   max_rival_iou: float = 0.2, min_confidence: float = 0.1) -> Scene:
    """Real detections cut into tracklets that are surely one person each: a detection continues the one
    of the previous frame whose box overlaps it by `min_iou` or more, when no other box of either frame
    overlaps either by more than `max_rival_iou`. What a real detector's jitter looks like, without
    ground truth (a person's tracklets are different identities: use same-person pairs one frame apart)."""
    order = np.argsort(frames, kind="stable")
    frames, keypoints = np.asarray(frames)[order], np.asarray(keypoints, dtype=np.float64)[order]
    boxes = boxes_of(keypoints, min_confidence)
    ids = np.full(len(frames), -1, dtype=np.int64)
    previous, next_id = np.zeros(0, dtype=np.int64), 0
    for frame in np.unique(frames):
        rows = np.flatnonzero(frames == frame)
        if len(previous) and frames[previous[0]] == frame - 1:
            iou = pairwise_iou(boxes[previous], boxes[rows])
            for i, j in zip(*np.nonzero(iou >= min_iou)):
                rivals = np.delete(iou[i], j).max(initial=0), np.delete(iou[:, j], i).max(initial=0)
                if max(rivals) <= max_rival_iou:
                    ids[rows[j]] = ids[previous[i]]
        fresh = rows[ids[rows] < 0]
        ids[fresh] = np.arange(next_id, next_id + len(fresh))
        next_id += len(fresh)
        previous = rows
    return Scene(name, frames, keypoints.astype(np.float32), ids)


def costs(pairs: Pairs, sigmas: np.ndarray, weights: np.ndarray, oks_weight: float,
          discounted: bool = False) -> np.ndarray:
    """(P,) 1 - likeness of every pair under these constants, what the gate tests (tracking.link.pair_costs);
    discounted: 1 - sharpness * likeness, what the assignment minimises."""
    variance = sigmas ** 2 * pairs.height[:, None] ** 2 + pairs.body_variance[:, None]
    weight = pairs.both * weights
    total = weight.sum(-1)
    similarity = np.divide((np.exp(-0.5 * pairs.d2 / variance) * weight).sum(-1), total, out=np.zeros(len(total)),
                           where=total > 0)
    likeness = oks_weight * similarity + (1 - oks_weight) * pairs.iou
    return 1 - (pairs.sharpness if discounted else 1.0) * likeness


def joint_spreads(pairs: Pairs, floor: float = 0.01) -> np.ndarray:
    """(25,) each joint's spread in heights: for a 2D normal residual, median |r|^2 = 2 ln 2 sigma^2.
    Joints never seen (a backend that does not report them) get the median spread."""
    r2 = (pairs.residual ** 2).sum(-1)  # (S, 25), NaN where unseen
    seen = np.isfinite(r2).sum(0) >= 20
    spread = np.full(25, np.nan)
    spread[seen] = np.sqrt(np.nanmedian(r2[:, seen], axis=0) / (2 * np.log(2)))
    spread[~seen] = np.nanmedian(spread[seen])
    return np.maximum(spread, floor)


def decision_error(pairs: Pairs, cost: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """(G,) for each gate, the share of predictions a lone tracker would link wrongly: the cheapest
    detection under the gate is another person's, or the own person's detection is refused by the gate
    (a broken track), or nothing is there and another person's is taken. (Per prediction, without the
    other tracks' competition: what the constants alone decide.)"""
    events = pairs.event
    n = events.max() + 1
    same_cost = np.full(n, np.inf)
    np.minimum.at(same_cost, events[pairs.same], cost[pairs.same])
    other_cost = np.full(n, np.inf)
    np.minimum.at(other_cost, events[~pairs.same], cost[~pairs.same])
    gates = np.asarray(gates)[:, None]
    takes_other = (other_cost <= gates) & (other_cost < same_cost)
    refuses_own = np.isfinite(same_cost) & (same_cost > gates) & ~takes_other
    return (takes_other | refuses_own).mean(axis=1)
