"""Scoring tracks against ground truth (CLEAR-MOT and IDF1 with py-motmetrics), and synthetic scenes
with known identities to score on: crossings, one leaving as another enters, occlusion gaps, misses,
false positives, keypoint noise and a shot cut.

py-motmetrics 1.4.0's accumulate/compute_many work with current numpy and pandas, but its iou_matrix
helper does not, so distances are computed here (1 - box IoU, NaN above the match threshold).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manifests.joints import BODY_25
from tracking.similarity import boxes_of, pairwise_iou

# A standing person's joints as offsets from the mid-hip, in units of body height (y grows downwards).
_TEMPLATE = {
    "nose": (0.0, -0.45), "neck": (0.0, -0.35), "right_shoulder": (-0.1, -0.33), "right_elbow": (-0.13, -0.18),
    "right_wrist": (-0.14, -0.03), "left_shoulder": (0.1, -0.33), "left_elbow": (0.13, -0.18),
    "left_wrist": (0.14, -0.03), "mid_hip": (0.0, 0.0), "right_hip": (-0.06, 0.0), "right_knee": (-0.07, 0.25),
    "right_ankle": (-0.07, 0.48), "left_hip": (0.06, 0.0), "left_knee": (0.07, 0.25), "left_ankle": (0.07, 0.48),
    "right_eye": (-0.02, -0.47), "left_eye": (0.02, -0.47), "right_ear": (-0.04, -0.46), "left_ear": (0.04, -0.46),
    "left_big_toe": (0.09, 0.52), "left_small_toe": (0.11, 0.52), "left_heel": (0.06, 0.5),
    "right_big_toe": (-0.09, 0.52), "right_small_toe": (-0.11, 0.52), "right_heel": (-0.06, 0.5),
}
TEMPLATE = np.array([_TEMPLATE[name] for name in BODY_25])


def person(x: float, y: float, height: float, confidence: float = 0.9) -> np.ndarray:
    """(25, 3) BODY_25 keypoints of a standing person with mid-hip at (x, y)."""
    points = np.array([x, y]) + TEMPLATE * height
    return np.concatenate([points, np.full((25, 1), confidence)], axis=1)


@dataclass
class Scene:
    """Detections with their true identity: frames (N,), keypoints (N, 25, 3), truth (N,) (-1 = false positive)."""

    name: str
    frames: np.ndarray
    keypoints: np.ndarray
    truth: np.ndarray
    shot_starts: tuple[int, ...] = (0,)
    separable: bool = True  # people never overlap so closely that identity is ambiguous


def _scene(name: str, rows: list[tuple[int, np.ndarray, int]], **extra) -> Scene:
    frames = np.array([r[0] for r in rows], dtype=np.int64)
    keypoints = np.stack([r[1] for r in rows]).astype(np.float32)
    return Scene(name, frames, keypoints, np.array([r[2] for r in rows]), **extra)


def synthetic_scenes(seed: int = 0) -> list[Scene]:
    """Six scenes of 100-160 frames at 640x360 with known identities."""
    rng = np.random.default_rng(seed)
    scenes = []

    # Two people walk towards each other and pass with a vertical offset (separable).
    rows = []
    for f in range(120):
        rows.append((f, person(50 + 4 * f, 180, 120), 0))
        rows.append((f, person(590 - 4 * f, 230, 120), 1))
    scenes.append(_scene("crossing", rows))

    # One leaves on the right as another enters on the left, in the same frame range.
    rows = []
    for f in range(100):
        if f < 60:
            rows.append((f, person(500 + 3 * f, 200, 110), 0))
        if f >= 55:
            rows.append((f, person(40 + 3 * (f - 55), 200, 110), 1))
    scenes.append(_scene("leave_and_enter", rows))

    # Occlusion gaps: a person vanishes for 3 frames (within max_gap) and again for 12 (beyond it).
    rows = []
    for f in range(150):
        if not (40 <= f < 43 or 90 <= f < 102):
            rows.append((f, person(100 + 2 * f, 200, 100), 0 if f < 90 else 2))
        rows.append((f, person(500, 150 + 0.5 * f, 90), 1))
    scenes.append(_scene("occlusion_gaps", rows))

    # Detector misses (10% of detections) and false positives (random bodies, truth -1).
    rows = []
    for f in range(150):
        for pid, (x0, vx) in enumerate(((80, 2.0), (300, -1.0), (450, 1.0))):
            if rng.random() > 0.1:
                rows.append((f, person(x0 + vx * f, 120 + 80 * pid, 100), pid))
        if rng.random() < 0.1:
            rows.append((f, person(rng.uniform(0, 640), rng.uniform(0, 360), rng.uniform(60, 140), 0.4), -1))
    scenes.append(_scene("misses_and_false_positives", rows))

    # Keypoint noise: 3 people with 4 px jitter on every joint.
    rows = []
    for f in range(150):
        for pid in range(3):
            body = person(100 + 200 * pid + 0.5 * f, 200, 110)
            body[:, :2] += rng.normal(0, 4, (25, 2))
            rows.append((f, body, pid))
    scenes.append(_scene("keypoint_noise", rows))

    # A shot cut at frame 80: the same place, but a new shot: identities must not carry across.
    rows = []
    for f in range(160):
        rows.append((f, person(300 + 0.5 * f, 200, 120), 0 if f < 80 else 1))
    scenes.append(_scene("shot_cut", rows, shot_starts=(0, 80)))
    return scenes


def score(scene: Scene, track_ids: np.ndarray, iou_threshold: float = 0.5) -> dict[str, float]:
    """CLEAR-MOT and IDF1 of `track_ids` against the scene's truth."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=False)
    boxes = boxes_of(scene.keypoints, 0.1)
    for frame in np.unique(scene.frames):
        here = scene.frames == frame
        real = here & (scene.truth >= 0)
        truth_rows, hyp_rows = np.flatnonzero(real), np.flatnonzero(here)
        distance = 1 - pairwise_iou(boxes[truth_rows], boxes[hyp_rows])
        distance[distance > 1 - iou_threshold] = np.nan
        accumulator.update(scene.truth[truth_rows].tolist(), track_ids[hyp_rows].tolist(), distance, frameid=int(frame))
    metrics = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_switches", "num_false_positives",
                                                                "num_misses"], name=scene.name)
    row = metrics.iloc[0]
    return {"mota": float(row["mota"]), "idf1": float(row["idf1"]), "id_switches": int(row["num_switches"]),
            "false_positives": int(row["num_false_positives"]), "misses": int(row["num_misses"])}
