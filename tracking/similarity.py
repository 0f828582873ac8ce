"""How alike two sets of people are: a keypoint similarity (OKS-style) and box IoU, over all pairs.

The keypoint similarity of a track's predicted pose and a detection is a weighted mean, over the joints
both show, of exp(-d^2 / 2v): d the joint's distance, v its variance: the joint's own spread (sigma_j,
in body heights, times the height), the detector's jitter of the whole body, and the uncertainty of the
prediction (it grows with the frames the track went unseen); tracking/link.py puts them together. sigma_j and the joint weights are
measured (tracking/calibrate.py, the README's tracking section); COCO's sigmas are kept for comparison.
"""
from __future__ import annotations

import numpy as np

from manifests.joints import BODY_25

# COCO's per-joint falloff (relative to sqrt(area)) for the 17 COCO joints; 0.08 for neck and mid-hip,
# 0.089 for feet. As spreads in body heights: kappa = 2 sigma, times sqrt(area) / height (about 0.63 for
# a walker whose box is 0.4 heights wide).
_COCO_SIGMA = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035, "right_ear": 0.035,
    "left_shoulder": 0.079, "right_shoulder": 0.079, "left_elbow": 0.072, "right_elbow": 0.072,
    "left_wrist": 0.062, "right_wrist": 0.062, "left_hip": 0.107, "right_hip": 0.107, "left_knee": 0.087,
    "right_knee": 0.087, "left_ankle": 0.089, "right_ankle": 0.089, "neck": 0.08, "mid_hip": 0.08,
    "left_big_toe": 0.089, "left_small_toe": 0.089, "left_heel": 0.089, "right_big_toe": 0.089,
    "right_small_toe": 0.089, "right_heel": 0.089,
}
COCO_SIGMAS = np.array([2 * 0.63 * _COCO_SIGMA[name] for name in BODY_25])


def boxes_of(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 of the visible joints of (N, 25, 3) keypoints; zeros where none is visible."""
    visible = keypoints[..., 2] > min_confidence
    any_visible = visible.any(axis=1)
    # Unseen joints cannot be the min or the max: fill them with +inf / -inf, then zero the empty rows.
    x0 = np.where(visible, keypoints[..., 0], np.inf).min(axis=1)
    y0 = np.where(visible, keypoints[..., 1], np.inf).min(axis=1)
    x1 = np.where(visible, keypoints[..., 0], -np.inf).max(axis=1)
    y1 = np.where(visible, keypoints[..., 1], -np.inf).max(axis=1)
    boxes = np.stack([x0, y0, x1, y1], axis=1)
    boxes[~any_visible] = 0.0
    return boxes


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., A, B) IoU of boxes (..., A, 4) and (..., B, 4); leading dimensions are batched."""
    x0 = np.maximum(a[..., :, None, 0], b[..., None, :, 0])
    y0 = np.maximum(a[..., :, None, 1], b[..., None, :, 1])
    x1 = np.minimum(a[..., :, None, 2], b[..., None, :, 2])
    y1 = np.minimum(a[..., :, None, 3], b[..., None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pose_similarity(a_xy: np.ndarray, a_visible: np.ndarray, a_variance: np.ndarray, b_xy: np.ndarray,
                    b_visible: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(...) keypoint similarity of people `a` (predicted tracks) to people `b` (detections), broadcast
    over leading dimensions: the weighted mean, over the joints both show, of exp(-d^2 / 2v).

    a_xy: (..., 25, 2) px; a_visible: (..., 25) bool; a_variance: (..., 25) px^2, each predicted joint's
    variance per axis; b_xy: (..., 25, 2); b_visible: (..., 25); weights: (25,). A pair sharing no
    visible joint scores 0.
    """
    # x and y apart, not a sum over a length-2 axis, and one exp in place: several times faster.
    dx = a_xy[..., 0] - b_xy[..., 0]
    dy = a_xy[..., 1] - b_xy[..., 1]
    similarity = (dx * dx + dy * dy) * (-0.5 / a_variance)
    np.exp(similarity, out=similarity)
    shown = (a_visible * weights) * b_visible
    similarity *= shown
    total = shown.sum(-1)
    return np.divide(similarity.sum(-1), total, out=np.zeros(total.shape), where=total > 0)


def pairwise_pose_similarity(a_xy: np.ndarray, a_visible: np.ndarray, a_variance: np.ndarray, b_xy: np.ndarray,
                             b_visible: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(..., A, B) pose_similarity of every person of `a` (..., A, ...) to every one of `b` (..., B, ...)."""
    return pose_similarity(a_xy[..., :, None, :, :], a_visible[..., :, None, :], a_variance[..., :, None, :],
                           b_xy[..., None, :, :, :], b_visible[..., None, :, :], weights)


def box_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., A, B) distance between boxes (..., A, 4) and (..., B, 4): 0 where they touch or overlap."""
    dx = np.maximum(0, np.maximum(a[..., :, None, 0] - b[..., None, :, 2], b[..., None, :, 0] - a[..., :, None, 2]))
    dy = np.maximum(0, np.maximum(a[..., :, None, 1] - b[..., None, :, 3], b[..., None, :, 1] - a[..., :, None, 3]))
    return np.sqrt(dx * dx + dy * dy)


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...) IoU of boxes a[...] and b[...] (both (..., 4))."""
    return pairwise_iou(a[..., None, :], b[..., None, :])[..., 0, 0]


def detection_scores(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    """(N,) how sure the detector is of each person: the mean confidence of its visible joints, scaled
    down when fewer than half of the joints are visible."""
    confidence = keypoints[..., 2]
    visible = confidence > min_confidence
    n_visible = visible.sum(-1)
    mean = np.divide((confidence * visible).sum(-1), n_visible, out=np.zeros(len(keypoints)), where=n_visible > 0)
    return mean * np.minimum(1.0, n_visible / (0.5 * keypoints.shape[-2]))
