"""3DPW's release (Python 2 pickles, image folders) -> one tube per person with 2D, 3D and SMPL targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from manifests import TARGETS, TUBES, VIDEOS, read_table
from manifests.joints import HMMR_25, N_LSP, joint_index
from pipelines.imports import ImportConfig, import_dataset
from pipelines.runner import RunnerConfig
from published.threedpw import ThreeDPWError, pose_in_camera, read_3dpw_sequence
from published_fixtures import write_3dpw_sequence, write_py2_pickle
from train.body import BodyModel, write_test_smpl

RUNNER = RunnerConfig(progress=False)


def test_the_global_orientation_turns_into_camera_axes():
    turn = np.eye(4)[None].copy()
    turn[0, :3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]  # 90 degrees about y
    pose = np.zeros((1, 72))
    pose[0, 5] = 0.3  # a body joint: untouched
    out = pose_in_camera(pose, turn)
    assert np.allclose(out[0, :3], [0, np.pi / 2, 0]) and out[0, 5] == 0.3


def test_each_person_becomes_a_tube_with_camera_axes_3d_from_the_gendered_smpl(client, root, tmp_path):
    smpl = tmp_path / "smpl"
    write_test_smpl(smpl / "SMPL_MALE.pkl", seed=1)
    write_test_smpl(smpl / "SMPL_FEMALE.pkl", seed=2)
    source = tmp_path / "3DPW"
    data = write_3dpw_sequence(source, "test", "downtown_walking_00", n_frames=20, genders=["m", "f"])
    write_3dpw_sequence(source, "validation", "courtyard_hug_00", n_frames=12, genders=["f"], seed=5)
    stats = import_dataset(client, root, ImportConfig(kind="3dpw", source=str(source), dataset="3dpw", splits=("test",),
                                                      smpl_model_dir=str(smpl)), RUNNER)
    assert stats.n_ok == 1, stats.failures  # only the test split was asked for

    video = read_table(root, VIDEOS).iloc[0]
    assert (video["video_id"], video["split"], video["fps"], video["codec"]) == ("3dpw-downtown_walking_00", "test", 30.0, "mjpeg")
    tubes = read_table(root, TUBES).set_index("tube_id")
    targets = read_table(root, TARGETS).set_index("tube_id")
    assert sorted(tubes.index) == ["3dpw-downtown_walking_00-t0-0", "3dpw-downtown_walking_00-t1-0"]
    target = targets.loc["3dpw-downtown_walking_00-t1-0"]
    assert "female SMPL" in target["source"]

    # 2D: OpenPose COCO-18 by name, score > 0.1 visible (eyes and ears were written below it).
    keypoints = np.stack(target["keypoints"]).reshape(20, 25, 3)
    coco = data["poses2d"][1].transpose(0, 2, 1)
    assert np.allclose(keypoints[:, joint_index(HMMR_25, "right_ankle"), :2], coco[:, 10, :2], atol=1e-4)
    assert keypoints[:, joint_index(HMMR_25, "right_ankle"), 2].all()
    assert not keypoints[:, joint_index(HMMR_25, "left_eye"), 2].any()

    # 3D: the female model's joints at (pose, betas), plus trans, in each frame's camera axes.
    joints_3d = np.stack(target["joints_3d"]).reshape(20, N_LSP, 3)
    body = BodyModel(smpl, gender="female")
    with torch.no_grad():
        _, joints = body(torch.tensor(data["poses"][1], dtype=torch.float32),
                         torch.tensor(np.tile(data["betas"][1], (20, 1)), dtype=torch.float32))
    world = joints.numpy()[:, :N_LSP] + data["trans"][1][:, None]
    cam = data["cam_poses"]
    expected = np.einsum("nij,nkj->nki", cam[:, :3, :3], world) + cam[:, None, :3, 3]
    valid = data["campose_valid"][1]
    assert np.isnan(joints_3d[~valid]).all() and not np.isnan(joints_3d[valid]).any()
    assert np.allclose(joints_3d[valid], expected[valid], atol=1e-4)
    assert np.allclose(np.stack(target["pose"])[:, 3:], data["poses"][1][:, 3:], atol=1e-6)
    assert np.allclose(target["shape"], data["betas"][1], atol=1e-6)


def test_a_sequence_file_without_a_key_is_named_with_what_was_expected(tmp_path):
    write_py2_pickle(tmp_path / "seq.pkl", {"poses": [np.zeros((3, 72))], "img_frame_ids": np.arange(3)})
    with pytest.raises(ThreeDPWError, match=r"seq\.pkl: missing \['betas', 'trans', 'poses2d', 'campose_valid', 'genders', 'cam_poses'\]"):
        read_3dpw_sequence(tmp_path / "seq.pkl")
