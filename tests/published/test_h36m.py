"""Human3.6M's release (cdf pose files, videos) -> 25 fps tubes with 2D and 3D targets in the released slots."""
from __future__ import annotations

import numpy as np
import pytest

from manifests import TARGETS, TUBES, VIDEOS, read_table
from manifests.joints import BODY_25, HMMR_25, N_LSP, joint_index
from media.decode import DecodeConfig, open_stream
from pipelines.imports import ImportConfig, import_dataset
from pipelines.runner import RunnerConfig
from published.h36m import H36M_32, H36MError, list_h36m_sequences
from published_fixtures import write_h36m_sequence

RUNNER = RunnerConfig(progress=False)


def test_h36m_sequences_become_25_fps_tubes_with_ankles_in_the_heel_slots(client, root, tmp_path):
    source = tmp_path / "human36m"
    written = write_h36m_sequence(source, "S9", "Walking 1", "60457274", n_frames=30)
    write_h36m_sequence(source, "S9", "Walking 1", "54138969", n_frames=30)  # not a test camera: left out
    write_h36m_sequence(source, "S1", "Directions", "54138969", n_frames=24, seed=3)
    stats = import_dataset(client, root, ImportConfig(kind="h36m", source=str(source), dataset="h36m"), RUNNER)
    assert stats.n_ok == 2, stats.failures

    videos = read_table(root, VIDEOS).set_index("video_id")
    assert videos["split"].to_dict() == {"h36m-S9-Walking_1-60457274": "test", "h36m-S1-Directions-54138969": "train"}
    media = root.path / videos.at["h36m-S9-Walking_1-60457274", "media_path"]
    assert media.is_symlink() and videos.at["h36m-S9-Walking_1-60457274", "fps"] == 50.0
    tube = read_table(root, TUBES).set_index("tube_id").loc["h36m-S9-Walking_1-60457274-t0-0"]
    target = read_table(root, TARGETS).set_index("tube_id").loc["h36m-S9-Walking_1-60457274-t0-0"]
    assert tube["fps"] == 25.0 and tube["n_frames"] == 15  # every second of 30 frames
    _, frames = open_stream(media, DecodeConfig(fps=tube["fps"]))
    assert sum(1 for _ in frames) >= 15  # the features stage finds every tube frame

    keypoints = np.stack(target["keypoints"]).reshape(15, 25, 3)
    joints_3d = np.stack(target["joints_3d"]).reshape(15, N_LSP, 3)
    every_second = slice(None, None, 2)
    for h36m_name, slot in (("right_ankle", "right_heel"), ("left_ankle", "left_heel"), ("head_top", "head_top"),
                            ("neck", "neck"), ("right_wrist", "right_wrist")):
        h36m = H36M_32.index(h36m_name)
        assert np.allclose(keypoints[:, joint_index(HMMR_25, slot), :2], written["pose_2d"][every_second, h36m], atol=1e-3)
        assert np.allclose(joints_3d[:, joint_index(HMMR_25, slot)], written["pose_3d"][every_second, h36m] / 1000, atol=1e-4)
    assert keypoints[:, :N_LSP, 2].all() and not keypoints[:, N_LSP:, 2].any()  # the 14 LSP joints, all visible
    body25 = np.stack(tube["keypoints"]).reshape(15, 25, 3)
    assert np.allclose(body25[:, joint_index(BODY_25, "right_ankle"), :2],
                       written["pose_2d"][every_second, H36M_32.index("right_ankle")], atol=1e-3)  # its true name there
    assert target["pose"] is None and target["shape"] is None


def test_world_axes_3d_alone_is_refused_saying_which_archive_is_needed(tmp_path):
    source = tmp_path / "human36m"
    (source / "S9" / "MyPoseFeatures" / "D3_Positions").mkdir(parents=True)
    with pytest.raises(H36MError, match=r"D3_Positions_mono: missing; .*download the 'D3 Positions mono' archive"):
        list_h36m_sequences(source, ("test",))
