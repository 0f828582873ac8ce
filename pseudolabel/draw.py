"""Pictures people would rather look at than read: skeletons, track ids and tube boxes on frames."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from manifests.joints import BODY_25

# Limbs of BODY_25 by joint name (OpenPose's drawing order).
LIMBS = tuple((BODY_25.index(a), BODY_25.index(b)) for a, b in (
    ("neck", "nose"), ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("neck", "mid_hip"),
    ("mid_hip", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("mid_hip", "left_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("nose", "right_eye"), ("right_eye", "right_ear"),
    ("nose", "left_eye"), ("left_eye", "left_ear"), ("left_ankle", "left_big_toe"), ("left_ankle", "left_heel"),
    ("right_ankle", "right_big_toe"), ("right_ankle", "right_heel"),
))
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))


def colour_of(track_id: int) -> tuple[int, int, int]:
    return PALETTE[int(track_id) % len(PALETTE)]


def draw_people(rgb: np.ndarray, people: list[np.ndarray], ids: list[int] | None = None,
                boxes: list[tuple[float, float, float]] | None = None, min_confidence: float = 0.1) -> np.ndarray:
    """A copy of `rgb` with each person's BODY_25 skeleton (25 x 3 array), id label and square crop box.

    boxes: per person (center_x_px, center_y_px, side_px) of the tube crop, or None.
    """
    image = Image.fromarray(rgb)
    pen = ImageDraw.Draw(image)
    width = max(1, round(max(rgb.shape[:2]) / 400))
    for n, keypoints in enumerate(people):
        colour = colour_of(ids[n] if ids is not None else n)
        seen = keypoints[:, 2] > min_confidence
        for a, b in LIMBS:
            if seen[a] and seen[b]:
                pen.line([tuple(keypoints[a, :2]), tuple(keypoints[b, :2])], fill=colour, width=width)
        for x, y in keypoints[seen, :2]:
            pen.ellipse([x - width, y - width, x + width, y + width], fill=colour)
        if boxes is not None and boxes[n] is not None:
            cx, cy, side = boxes[n]
            pen.rectangle([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], outline=colour, width=width)
        if ids is not None and seen.any():
            x, y = keypoints[seen, :2].min(axis=0)
            pen.text((x, max(0, y - 12)), str(ids[n]), fill=colour)
    return np.asarray(image)
