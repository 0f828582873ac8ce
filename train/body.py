"""The SMPL body model (smplx) and its joints in HMMR's training order (HMMR_25).

The joints come from the released model's "cocoplus" regressor when the SMPL file holds one
(`neutral_smpl_with_cocoplustoesankles_reg.pkl`: 25 rows over the vertices, in HMMR_25 order), so a model
trained here places its joints where the released one does. Otherwise they are SMPL's own joints and
smplx's vertex keypoints, matched to HMMR_25 by name (heels and toes from foot vertices, the head top from
a vertex); the log says which.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from manifests.joints import HMMR_25
from train.params import BODY_POSE, GLOBAL_ORIENT, N_SHAPE, N_SMPL_JOINTS
from train.smpl_io import COCOPLUS_REGRESSOR, MEAN_PARAMS_FILE, find_model_file, load_smpl_data

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
N_POSE_BLEND = 9 * (N_SMPL_JOINTS - 1)  # SMPL's pose blend shapes: one per entry of each body joint's rotation


class BodyModel(nn.Module):
    """SMPL that returns HMMR_25 joints.

    forward(pose, shape): pose (B, 72) axis-angle radians, shape (B, 10) betas ->
        vertices (B, V, 3) and joints (B, 25, 3) in metres, in HMMR_25 order.
    joints_source: "cocoplus_regressor" or "smpl_joints_by_name".
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
        regressor = data.get(COCOPLUS_REGRESSOR)
        if regressor is not None and regressor.shape[0] == len(HMMR_25):
            dense = regressor.toarray() if hasattr(regressor, "toarray") else np.asarray(regressor)
            self.register_buffer("cocoplus", torch.tensor(dense, dtype=torch.float32), persistent=False)
            self.joints_source = COCOPLUS_REGRESSOR
            log.info("joints: the released model's cocoplus regressor (%d x %d) from %s", *dense.shape, path.name)
        else:
            if regressor is not None:
                log.warning("%s: %s has %d rows, not HMMR's %d; using SMPL's joints by name instead",
                            path, COCOPLUS_REGRESSOR, regressor.shape[0], len(HMMR_25))
            self.cocoplus = None
            self.joints_source = "smpl_joints_by_name"
            log.info("joints: SMPL's joints and smplx's vertex keypoints matched to HMMR_25 by name (no %s in "
                     "%s; give %s for the released model's joints)", COCOPLUS_REGRESSOR, path.name,
                     "neutral_smpl_with_cocoplustoesankles_reg.pkl")
        n_named = N_SMPL_JOINTS + self.smpl.vertex_joint_selector.extra_joints_idxs.numel()
        names = [*SMPLX_SMPL_JOINTS[:n_named], "head_top"]
        self.register_buffer("joint_index", torch.tensor([names.index(n) for n in HMMR_25]), persistent=False)
        self.path = path
        log.info("SMPL %s model from %s (%d vertices)", gender, path, data["v_template"].shape[0])

    def forward(self, pose: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.smpl(global_orient=pose[:, GLOBAL_ORIENT], body_pose=pose[:, BODY_POSE], betas=shape)
        if self.cocoplus is not None:
            return output.vertices, torch.einsum("jv,bvc->bjc", self.cocoplus, output.vertices)
        head_top = output.vertices[:, HEAD_TOP_VERTEX: HEAD_TOP_VERTEX + 1]
        joints = torch.cat([output.joints, head_top], dim=1)[:, self.joint_index]
        return output.vertices, joints


def find_mean_params(model_dir: Path) -> Path | None:
    """HMR's `neutral_smpl_meanwjoints.h5` in the SMPL folder (or beside the SMPL file), if it is there."""
    model_dir = Path(model_dir).expanduser()
    candidate = (model_dir.parent if model_dir.is_file() else model_dir) / MEAN_PARAMS_FILE
    return candidate if candidate.is_file() else None


def write_test_smpl(path: Path, seed: int = 0, cocoplus: bool = False) -> Path:
    """An SMPL-format file with the official keys, shapes and dtypes: a mannequin (train/mannequin.py).

    For tests and the demo, which cannot download the real model. Its logs say it is not SMPL.
    cocoplus: also write a `cocoplus_regressor` (25 x vertices, sparse) as HMR's file has, each joint
    the mean of 8 vertices.
    """
    import pickle

    import scipy.sparse

    from train.mannequin import mannequin

    data = mannequin(seed)
    n_vertices = len(data["v_template"])
    data["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
    if cocoplus:
        rng = np.random.default_rng(seed)
        rows = np.repeat(np.arange(len(HMMR_25)), 8)
        columns = rng.integers(0, n_vertices, rows.size)
        data[COCOPLUS_REGRESSOR] = scipy.sparse.csc_matrix((np.full(rows.size, 1 / 8), (rows, columns)),
                                                           shape=(len(HMMR_25), n_vertices))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as sink:
        pickle.dump(data, sink, protocol=2)
    return path


def write_test_mean_params(path: Path, seed: int = 0) -> Path:
    """A `neutral_smpl_meanwjoints.h5` as HMR ships it (datasets `pose` (72,) and `shape` (10,)), small
    random values: for tests."""
    import h5py

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as sink:
        sink["pose"] = rng.normal(0, 0.1, 3 * N_SMPL_JOINTS)
        sink["shape"] = rng.normal(0, 0.5, N_SHAPE)
    return path
