"""The SMPL body model (smplx) and its joints in HMMR's training order, by name."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from manifests.joints import HMMR_25
from train.params import GLOBAL_ORIENT, BODY_POSE
from train.smpl_io import find_model_file, load_smpl_data

log = logging.getLogger(__name__)

# What smplx.SMPL returns: 24 SMPL joints, then joints taken from mesh vertices (face, feet, fingertips).
SMPLX_SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
    "nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel", "left_thumb", "left_index", "left_middle", "left_ring",
    "left_pinky", "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
)
HEAD_TOP_VERTEX = 411  # the SMPL vertex at the top of the head (LSP's head top has no SMPL joint)


class BodyModel(nn.Module):
    """SMPL that returns HMMR_25 joints.

    forward(pose, shape): pose (B, 72) axis-angle radians, shape (B, 10) betas ->
        vertices (B, V, 3) and joints (B, 25, 3) in metres, in HMMR_25 order.
    """

    def __init__(self, model_dir: Path, gender: str = "neutral") -> None:
        super().__init__()
        import smplx
        from smplx.utils import Struct

        path = find_model_file(model_dir, gender)
        data = load_smpl_data(path)
        self.smpl = smplx.SMPL(model_path=str(path), data_struct=Struct(**data), batch_size=1,
                               create_global_orient=False, create_body_pose=False, create_betas=False,
                               create_transl=False)
        names = [*SMPLX_SMPL_JOINTS[: 24 + (self.smpl.vertex_joint_selector.extra_joints_idxs.numel())], "head_top"]
        self.register_buffer("joint_index", torch.tensor([names.index(n) for n in HMMR_25]), persistent=False)
        self.path = path
        log.info("SMPL %s model from %s (%d vertices)", gender, path, data["v_template"].shape[0])

    def forward(self, pose: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.smpl(global_orient=pose[:, GLOBAL_ORIENT], body_pose=pose[:, BODY_POSE], betas=shape)
        head_top = output.vertices[:, HEAD_TOP_VERTEX: HEAD_TOP_VERTEX + 1]
        joints = torch.cat([output.joints, head_top], dim=1)[:, self.joint_index]
        return output.vertices, joints


def write_test_smpl(path: Path, seed: int = 0) -> Path:
    """An SMPL-format file with the official keys, shapes and dtypes: a mannequin (train/mannequin.py).

    For tests and the demo, which cannot download the real model. Its logs say it is not SMPL.
    """
    import pickle

    import scipy.sparse

    from train.mannequin import mannequin

    data = mannequin(seed)
    data["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as sink:
        pickle.dump(data, sink, protocol=2)
    return path
