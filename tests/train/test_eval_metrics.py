"""The paper's metrics on cases whose answers are worked out by hand."""
from __future__ import annotations

import numpy as np

from manifests.joints import LSP_14, joint_index
from train.eval_metrics import (acceleration, acceleration_error, joint_errors, keypoint_errors,
                                mean_of_sequence_means, similarity_align)

SQUARE = np.array([[-10, 0], [10, 0], [0, -10], [0, 10], [0, 0], [0, 0]], dtype=float)


def visible_frame(points: np.ndarray, n_joints: int = 25) -> np.ndarray:
    frame = np.zeros((n_joints, 3))
    frame[: len(points), :2], frame[: len(points), 2] = points, 1
    return frame


def test_keypoint_error_before_and_after_the_best_scale_and_translation():
    target = visible_frame(SQUARE + 100)
    shifted = target[:, :2] + [3, 4]  # 5 px off everywhere, no shape error
    scaled = 2 * target[:, :2] + [7, -3]  # right shape, wrong scale and place
    errors = keypoint_errors(np.stack([target, target]), np.stack([shifted, scaled]))
    assert np.isclose(errors.kp[0], 5.0)
    expected_kp = np.linalg.norm(target[:6, :2] - scaled[:6], axis=1).mean()
    assert np.isclose(errors.kp[1], expected_kp) and expected_kp > 100
    assert np.allclose(errors.kp_pa, 0, atol=1e-4) and np.array_equal(errors.pck, [1.0, 1.0])


def test_pck_counts_joints_within_5_percent_of_the_crop_after_the_released_alignment():
    # Errors of +-30 px in x on the two joints at the centre keep both means. The released rule fits
    # A = (X'X)^-1 X'Y with X the centred prediction: X'Y = diag(200, 200), X'X = diag(200 + 1800, 200), so
    # A = diag(0.1, 1) and scale = trace(A) / 2 = 0.55. Aligned, the four outer joints are 10 x 0.45 = 4.5 px
    # off and the two centre ones 30 x 0.55 = 16.5 px (> 0.05 x 224 = 11.2 px).
    target = visible_frame(SQUARE + 100)
    predicted = target[:, :2].copy()
    predicted[4] += [30, 0]
    predicted[5] -= [30, 0]
    errors = keypoint_errors(target[None], predicted[None])
    assert np.isclose(errors.kp[0], 60 / 6)
    assert np.isclose(errors.kp_pa[0], (4 * 4.5 + 2 * 16.5) / 6, atol=1e-4)
    assert np.isclose(errors.pck[0], 4 / 6)


def test_frames_with_fewer_than_6_visible_joints_are_not_counted():
    target = visible_frame(SQUARE[:5] + 100)
    errors = keypoint_errors(target[None], target[None, :, :2] + 1)
    assert np.isnan(errors.kp[0]) and np.isnan(errors.kp_pa[0]) and np.isnan(errors.pck[0])


def skeleton(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, (14, 3))


def test_mpjpe_aligns_the_pelvis_and_pa_mpjpe_removes_scale_rotation_translation_but_not_a_mirror():
    target = skeleton()
    moved = target + [1.0, -2.0, 5.0]  # another place: pelvis alignment removes it
    wrist = moved.copy()
    wrist[joint_index(LSP_14, "right_wrist")] += [0.03, 0.0, 0.04]  # one joint 5 cm off
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    similar = 1.3 * target @ rotation.T + [0.2, 0.1, 3.0]
    mirrored = target * [-1, 1, 1]
    mpjpe, pa = joint_errors(np.stack([target] * 4), np.stack([moved, wrist, similar, mirrored]))
    assert np.isclose(mpjpe[0], 0) and np.isclose(mpjpe[1], 0.05 / 14)
    assert mpjpe[2] > 0.05 and np.isclose(pa[2], 0, atol=1e-9)
    assert pa[3] > 0.01  # a reflection is not a rotation: PA cannot undo it


def test_similarity_align_recovers_a_known_transform():
    source = skeleton(1)
    angle = -0.4
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    target = 0.8 * source @ rotation.T + [0.5, -0.1, 2.0]
    assert np.allclose(similarity_align(source[None], target[None])[0], target, atol=1e-9)


def test_acceleration_is_the_second_difference_and_its_error_skips_triples_with_an_invalid_frame():
    t = np.arange(6, dtype=float)
    steady = np.zeros((6, 14, 3))
    steady[..., 0] = 0.1 * t[:, None]  # constant velocity: no acceleration
    speeding = steady.copy()
    speeding[..., 1] = t[:, None] ** 2  # y = t^2: second difference 2 everywhere
    assert np.allclose(acceleration(steady), 0) and np.allclose(acceleration(speeding), 2.0)
    assert acceleration(steady).shape == (4,)
    assert np.allclose(acceleration_error(steady, speeding, np.ones(6, bool)), 2.0)
    valid = np.array([1, 1, 1, 0, 1, 1], bool)  # triples (0,1,2) only: the others touch frame 3
    assert acceleration_error(steady, speeding, valid).shape == (1,)


def test_the_dataset_value_is_the_mean_of_each_sequence_mean():
    per_sequence = [np.array([1.0, 3.0, np.nan]), np.array([10.0]), np.array([np.nan]), np.array([])]
    assert mean_of_sequence_means(per_sequence) == (2.0 + 10.0) / 2
    assert np.isnan(mean_of_sequence_means([np.array([np.nan])]))
