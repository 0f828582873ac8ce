"""Joint orders as named constants, and the one name-based converter between them.

Never slice keypoints by magic numbers: look joints up by name here, or convert a whole array with
`convert_joints`, which fills joints the source lacks with confidence 0.
"""
from __future__ import annotations

import numpy as np

# OpenPose BODY_25, in OpenPose's output order.
BODY_25: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
N_BODY_25 = len(BODY_25)
KEYPOINT_WIDTH = N_BODY_25 * 3  # (x_px, y_px, confidence) per joint, flattened on disk

# COCO-17 in COCO's order; every one of them is a BODY_25 joint.
COCO_17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)

# HMMR's training joints, in the released code's order and with its slot meanings (its "universal 25
# joints with toes": akanazawa/human_dynamics, src/datasets/insta_variety_to_tfrecords.py,
# `joint_names_coco`; the same list in read_upenn.py and read_3dpw.py). Its tfrecords store slots 0-13 as
# `image/xys` + `image/visibilities`, 14-18 as `image/face_pts`, 19-24 as `image/toe_pts`.
# Slots 0 and 5 are heels, not ankles: OpenPose's heels fill them, its ankles go to slots 23-24 (Penn
# Action's ankles too; Human3.6M's ankle joints fill the heel slots, see each converter). `head_top` has no
# BODY_25 counterpart and is never seen in OpenPose data. The 3D supervision and 3D metrics use slots 0-13.
LSP_14: tuple[str, ...] = (
    "right_heel", "right_knee", "right_hip", "left_hip", "left_knee", "left_heel", "right_wrist",
    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
)
FACE_5: tuple[str, ...] = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
TOES_6: tuple[str, ...] = (
    "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_ankle", "right_ankle",
)
HMMR_25: tuple[str, ...] = LSP_14 + FACE_5 + TOES_6
N_LSP = len(LSP_14)  # the joints of the 3D losses and of MPJPE / PA-MPJPE

# Joints that say only "a face and shoulders are visible" (used to drop talking-head tracks).
FACE_AND_SHOULDERS: tuple[str, ...] = (
    "nose", "neck", "right_eye", "left_eye", "right_ear", "left_ear", "right_shoulder", "left_shoulder",
)

def joint_index(order: tuple[str, ...], name: str) -> int:
    """Index of `name` in `order`, with an error that lists the order's names."""
    try:
        return order.index(name)
    except ValueError:
        raise KeyError(f"joint {name!r} is not in this joint order; it has {list(order)}") from None


def joint_indices(order: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray:
    return np.array([joint_index(order, n) for n in names], dtype=np.int64)


def convert_joints(keypoints: np.ndarray, source: tuple[str, ...], target: tuple[str, ...]) -> np.ndarray:
    """Re-order keypoints from the `source` joint order into `target`, by joint name.

    keypoints: (..., len(source), C) array; the last axis is any per-joint record, usually
        (x_px, y_px, confidence).
    Returns (..., len(target), C) of the same dtype; joints of `target` that `source` lacks are all
        zeros (so confidence 0 = not found).
    """
    keypoints = np.asarray(keypoints)
    if keypoints.shape[-2] != len(source):
        raise ValueError(
            f"keypoints have {keypoints.shape[-2]} joints on axis -2 but the source order has {len(source)}"
        )
    out = np.zeros(keypoints.shape[:-2] + (len(target), keypoints.shape[-1]), dtype=keypoints.dtype)
    for target_index, name in enumerate(target):
        if name in source:
            out[..., target_index, :] = keypoints[..., source.index(name), :]
    return out


def coco17_from_body25() -> np.ndarray:
    """Indices into BODY_25 that give COCO-17 order (DESIGN.md: [0, 16, 15, 18, 17, 5, 2, ...])."""
    return joint_indices(BODY_25, COCO_17)
