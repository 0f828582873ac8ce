"""When a match is contested: a second track (a rival) could as well have taken the detection.

A rival is a confirmed track seen in the last rival_gap frames (TrackerConfig): a tentative track (a
possible stray) is none, nor a track lost for longer (its vague prediction fits many), but one whose
person the detector missed for a frame or two is. Under a detector's jitter, a contested detection is a
coin toss, and a lost toss gives a person another's id for a frame (A, B, A: id flapping). The linker
(tracking/linker.py) leaves a detection that two tracks fit almost equally to neither (`clear_matches`),
keeps out of the tracks table a detection taken where two tracks are predicted at one place
(`coin_tosses`), and gives a track found again the detection another track held for one frame in its
place (`handed_back`).
"""
from __future__ import annotations

import numpy as np

from tracking.link import Detections, Prediction
from tracking.similarity import pairwise_iou


def uncontested(allowed: np.ndarray, cols: np.ndarray) -> bool:
    """Whether no taken detection (cols) is one that two tracks may take under the gate (allowed: (live
    tracks, detections)): most frames, where neither rule below has anything to judge."""
    return bool((allowed[:, cols].sum(axis=0) < 2).all())


def clear_matches(cost: np.ndarray, allowed: np.ndarray, track_rows: np.ndarray, cols: np.ndarray,
                  rival: np.ndarray, margin: float) -> np.ndarray:
    """(matches,) whether each match (track track_rows[k] took detection cols[k]) is clear: False where a
    rival fits that detection almost as well: it took no detection and its cost for this one is less than
    `margin` higher, or it took another and exchanging the two detections would cost less than `margin`
    more. cost, allowed: (live tracks, detections); rival: (live,)."""
    if uncontested(allowed, cols):
        return np.ones(len(cols), dtype=bool)
    own = cost[track_rows, cols]
    idle = rival.copy()
    idle[track_rows] = False
    idle_rival = (allowed[:, cols] & idle[:, None] & (cost[:, cols] - own < margin)).any(axis=0)
    crossed = cost[np.ix_(track_rows, cols)]
    exchange = crossed + crossed.T - own[:, None] - own[None, :]
    swappable = (allowed[np.ix_(track_rows, cols)] & allowed[np.ix_(track_rows, cols)].T
                 & rival[track_rows][:, None] & rival[track_rows][None, :])
    np.fill_diagonal(swappable, False)
    return ~idle_rival & ~(swappable & (exchange < margin)).any(axis=1)


def coin_tosses(prediction: Prediction, allowed: np.ndarray, distance: np.ndarray, track_rows: np.ndarray,
                cols: np.ndarray, rival: np.ndarray, min_iou: float, min_distance: float) -> np.ndarray:
    """(matches,) True where the track that took the detection is predicted almost where a rival is (box
    IoU at least `min_iou`), the rival fits the detection under the gate, and the detection fits the track
    that took it only loosely (distance, 1 - likeness, at least `min_distance`): two people each where the
    other is expected, told apart by the detector's jitter alone. A clear fit is no toss: two people who
    walk close together keep their ids."""
    if uncontested(allowed, cols):
        return np.zeros(len(cols), dtype=bool)
    near = pairwise_iou(prediction.box[track_rows], prediction.box) >= min_iou
    near[np.arange(len(track_rows)), track_rows] = False
    return (near & rival[None, :] & allowed[:, cols].T).any(axis=1) & (distance[track_rows, cols] >= min_distance)


def handed_back(d: Detections, assigned: np.ndarray, frame: int, rows: np.ndarray, slots: np.ndarray,
                since: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """(previous-frame rows, slots): tracks `slots`, just matched to detections `rows` of `frame` after at
    least a frame unseen (`since` > 1), also take the previous frame's detection that each one's continues
    (box IoU at least `min_iou`, each the other's best overlap) from the track that had it, if that track
    took nothing in this frame: it held the person for one frame while the track found again was not yet
    back (a track lost for long is no rival, and there the one seen last fit better). Without it, the
    person's id went A, B, A. assigned: (N,) slot of each detection so far (-1: none)."""
    out_rows, out_slots = [], []
    first, start, end = np.searchsorted(d.frames, [frame - 1, frame, frame + 1])  # d is in frame order
    here, before = np.arange(start, end), np.arange(first, start)
    for row, slot, unseen in zip(rows, slots, since):
        if unseen <= 1 or not len(before):
            continue
        overlap = pairwise_iou(d.boxes[row][None], d.boxes[before])[0]
        previous = before[int(np.argmax(overlap))]
        owner = assigned[previous]
        if overlap.max() < min_iou or owner < 0 or owner in slots:
            continue
        if here[int(np.argmax(pairwise_iou(d.boxes[previous][None], d.boxes[here])[0]))] == row:
            out_rows.append(previous)
            out_slots.append(slot)
    return np.array(out_rows, dtype=np.int64), np.array(out_slots, dtype=np.int64)
