"""The paper's evaluation metrics, as the authors' released code defines them (src/evaluation/eval_util.py).

Pure numpy, float64, one value per frame (or per frame triple): the protocol (`train/evaluate.py`)
averages them per sequence, then over sequences.

2D, in pixels of the 224 crop, on every training-layout joint the ground truth marks visible; frames
    with fewer than 6 visible joints give NaN (not counted):
    kp       mean distance of the projected joints;
    kp_pa    the same after the predicted points get the scale and translation that best fit the truth
             (the released rule: scale = trace of the 2x2 least-squares map / 2, means matched);
    pck      share of joints within 0.05 x 224 px after that alignment.
3D, on the 14 LSP joints (the training layout's first slots), metres:
    mpjpe    mean joint distance after both skeletons put the pelvis (midpoint of the hips) at the origin;
    pa_mpjpe the same after the best similarity transform (scale, rotation without reflection,
             translation) of the prediction onto the truth;
    accel    mean magnitude of the predicted joints' second difference, per frame (what the released
             table's `accel` column holds; it needs no ground truth);
    accel_error  mean magnitude of the difference between predicted and true second differences, over
             frame triples whose three frames all have valid 3D.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manifests.joints import LSP_14, joint_index

CROP_PX = 224
PCK_ALPHA = 0.05
MIN_VISIBLE = 6  # the released eval's min_visible
_RIGHT_HIP, _LEFT_HIP = joint_index(LSP_14, "right_hip"), joint_index(LSP_14, "left_hip")


@dataclass(frozen=True)
class KeypointErrors:
    """Per frame: kp and kp_pa in crop pixels, pck in [0, 1]; NaN where too few joints are visible."""

    kp: np.ndarray
    kp_pa: np.ndarray
    pck: np.ndarray


def align_scale_translation(predicted: np.ndarray, target: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """`predicted` (J, 2) moved by the scale and translation that fit `target` (J, 2) on `visible` (J,) joints.

    The released eval's rule: A = (X'X + 1e-6 I)^-1 X'Y over the centred visible points; scale = trace(A) / 2;
    the translation puts the scaled prediction's visible mean on the truth's.
    """
    weight = visible.astype(np.float64)[:, None]
    n_visible = weight.sum()
    mean_predicted = (weight * predicted).sum(0) / n_visible
    mean_target = (weight * target).sum(0) / n_visible
    x = weight * (predicted - mean_predicted)
    y = weight * (target - mean_target)
    mapping = np.linalg.inv(x.T @ x + 1e-6 * np.eye(2)) @ (x.T @ y)
    scale = np.trace(mapping) / 2.0
    return scale * (predicted + (mean_target / scale - mean_predicted))


def keypoint_errors(target: np.ndarray, predicted: np.ndarray, crop_px: float = CROP_PX, alpha: float = PCK_ALPHA,
                    min_visible: int = MIN_VISIBLE) -> KeypointErrors:
    """target (n, J, 3) crop pixels + visibility 0/1; predicted (n, J, 2) crop pixels."""
    n = len(target)
    kp, kp_pa, pck = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        visible = target[i, :, 2] > 0
        if visible.sum() < min_visible:
            continue
        truth = target[i, :, :2].astype(np.float64)
        guess = predicted[i].astype(np.float64)
        kp[i] = np.linalg.norm(truth[visible] - guess[visible], axis=1).mean()
        aligned = align_scale_translation(guess, truth, visible)
        distances = np.linalg.norm(truth[visible] - aligned[visible], axis=1)
        kp_pa[i], pck[i] = distances.mean(), (distances < alpha * crop_px).mean()
    return KeypointErrors(kp=kp, kp_pa=kp_pa, pck=pck)


def align_by_pelvis(joints: np.ndarray) -> np.ndarray:
    """(..., 14, 3) LSP joints with the midpoint of the hips moved to the origin."""
    pelvis = (joints[..., _RIGHT_HIP, :] + joints[..., _LEFT_HIP, :]) / 2.0
    return joints - pelvis[..., None, :]


def similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`source` (n, J, 3) moved by the similarity transform that best fits `target` (n, J, 3), per frame:
    the orthogonal Procrustes solution with scale, its rotation kept proper (no reflection)."""
    mu_source, mu_target = source.mean(1, keepdims=True), target.mean(1, keepdims=True)
    x, y = source - mu_source, target - mu_target
    u, _, vt = np.linalg.svd(np.swapaxes(x, 1, 2) @ y)  # (n, 3, 3): x'y = U S V'
    flip = np.sign(np.linalg.det(u @ vt))
    fix = np.tile(np.eye(3), (len(source), 1, 1))
    fix[:, 2, 2] = flip
    rotation = u @ fix @ vt  # applied as x @ rotation
    rotated = x @ rotation
    scale = (rotated * y).sum((1, 2)) / (x ** 2).sum((1, 2))
    return scale[:, None, None] * rotated + mu_target


def joint_errors(target: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MPJPE, PA-MPJPE) per frame, in the input's units, of (n, 14, 3) LSP joints, pelvis-aligned."""
    target, predicted = align_by_pelvis(target.astype(np.float64)), align_by_pelvis(predicted.astype(np.float64))
    mpjpe = np.linalg.norm(target - predicted, axis=-1).mean(-1)
    pa_mpjpe = np.linalg.norm(target - similarity_align(predicted, target), axis=-1).mean(-1)
    return mpjpe, pa_mpjpe


def second_difference(joints: np.ndarray) -> np.ndarray:
    """(n, J, 3) -> (n - 2, J, 3): X[t-1] - 2 X[t] + X[t+1]."""
    return joints[:-2] - 2 * joints[1:-1] + joints[2:]


def acceleration(joints: np.ndarray) -> np.ndarray:
    """(n - 2,) mean over joints of |second difference| of (n, J, 3) joints (units per frame^2)."""
    return np.linalg.norm(second_difference(joints.astype(np.float64)), axis=-1).mean(-1)


def acceleration_error(target: np.ndarray, predicted: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean over joints of |accel(predicted) - accel(target)|, for each frame triple whose three frames are
    `valid` (n,) (the released eval drops a triple when any of its frames is not visible)."""
    error = np.linalg.norm(second_difference(predicted.astype(np.float64)) - second_difference(target.astype(np.float64)),
                           axis=-1).mean(-1)
    valid = np.asarray(valid, bool)
    whole = valid[:-2] & valid[1:-1] & valid[2:]
    return error[whole]


def mean_of_sequence_means(values_by_sequence: list[np.ndarray]) -> float:
    """The released eval's average: each sequence's mean over its frames (NaN ignored), then the mean of
    those over the sequences that have any value; NaN when none has."""
    means = [float(np.nanmean(v)) for v in values_by_sequence if np.size(v) and not np.isnan(v).all()]
    return float(np.mean(means)) if means else float("nan")
