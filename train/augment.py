"""Mirror images' targets: what a horizontally flipped crop means for its keypoints, 3D joints and SMPL pose.

The released code flips a whole sequence half the time (src/util/tube_augmentation.py, flip_image,
reflect_pose, reflect_joints3d). With features precomputed by a frozen backbone, the flip happens where
the crops are made (train.features: a view's crops are mirrored before the backbone, and the view is
recorded as `flipped`); whoever builds training windows from a flipped view mirrors its targets here, so a
Batch's targets always live in the frame of its features.

Mirroring about the image's vertical axis: x -> -x in crop units (the crop's centre is 0), left and right
joints trade places (by name), a 3D point (x, y, z) -> (-x, y, z), and each joint rotation R -> M R M with
M = diag(-1, 1, 1), which in axis-angle is (a, b, c) -> (a, -b, -c), with SMPL's left and right joints
swapped.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from manifests.joints import HMMR_25, N_LSP
from train.body import SMPLX_SMPL_JOINTS
from train.params import N_SMPL_JOINTS


def mirrored_name(name: str) -> str:
    """'left_knee' <-> 'right_knee'; names without a side stay."""
    for side, other in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(side):
            return other + name[len(side):]
    return name


def mirror_permutation(order: tuple[str, ...]) -> np.ndarray:
    """Index array p with mirrored[i] = original[p[i]]: each joint takes its mirror twin's place."""
    return np.array([order.index(mirrored_name(n)) for n in order], dtype=np.int64)


HMMR_25_MIRROR = mirror_permutation(HMMR_25)
LSP_MIRROR = mirror_permutation(HMMR_25[:N_LSP])
SMPL_MIRROR = mirror_permutation(SMPLX_SMPL_JOINTS[:N_SMPL_JOINTS])
AXIS_ANGLE_MIRROR = np.array([1.0, -1.0, -1.0], dtype=np.float32)


def mirror_keypoints(keypoints: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """keypoints (..., 25, 2) HMMR_25 in crop units, visibility (..., 25) -> the same for the mirrored crop."""
    mirrored = keypoints[..., HMMR_25_MIRROR, :].copy()
    mirrored[..., 0] *= -1
    return mirrored, visibility[..., HMMR_25_MIRROR]


def mirror_joints_3d(joints: np.ndarray) -> np.ndarray:
    """(..., J, 3) metres, the first N_LSP of HMMR_25 (J = 14) or all of it (J = 25) -> mirrored."""
    permutation = {N_LSP: LSP_MIRROR, len(HMMR_25): HMMR_25_MIRROR}.get(joints.shape[-2])
    if permutation is None:
        raise ValueError(f"3D joints must be the {N_LSP} LSP or {len(HMMR_25)} HMMR_25 joints, got {joints.shape[-2]}")
    mirrored = joints[..., permutation, :].copy()
    mirrored[..., 0] *= -1
    return mirrored


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """(..., 72) SMPL axis-angle (global orientation first) -> the pose of the mirrored body."""
    joints = pose.reshape(*pose.shape[:-1], N_SMPL_JOINTS, 3)
    return (joints[..., SMPL_MIRROR, :] * AXIS_ANGLE_MIRROR).reshape(pose.shape).astype(pose.dtype)


def mirror_windows(batch, flipped: np.ndarray):
    """The batch with the targets of the windows where `flipped` (B,) is set mirrored (their features
    saw mirrored crops): keypoints and visibility, 3D joints and SMPL poses; shapes need nothing. For
    any loader: it stores each tube's targets once, as annotated, and each view's `flipped` flag."""
    import torch

    rows = np.flatnonzero(np.asarray(flipped, dtype=bool))
    if not len(rows):
        return batch
    index = torch.from_numpy(rows)
    keypoints, visibility = batch.keypoints.clone(), batch.visibility.clone()
    mirrored, seen = mirror_keypoints(keypoints[index].numpy(), visibility[index].numpy())
    keypoints[index], visibility[index] = torch.from_numpy(mirrored), torch.from_numpy(seen)
    changes = {"keypoints": keypoints, "visibility": visibility}
    if batch.joints_3d is not None:
        changes["joints_3d"] = batch.joints_3d.clone()
        changes["joints_3d"][index] = torch.from_numpy(mirror_joints_3d(batch.joints_3d[index].numpy()))
    if batch.pose is not None:
        changes["pose"] = batch.pose.clone()
        changes["pose"][index] = torch.from_numpy(mirror_pose(batch.pose[index].numpy()))
    return replace(batch, **changes)
