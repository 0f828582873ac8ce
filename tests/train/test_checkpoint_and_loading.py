"""Checkpoints and model files load without running code from them; configs round-trip through plain
types; --resume refuses another model or data configuration, naming the fields."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from train.body import BodyModel, find_mean_params, write_test_mean_params, write_test_smpl
from train.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from train.config import ConfigError, TrainConfig, config_from_plain, config_to_plain
from train.loop import ResumeMismatch, _resume, build_model
from train.losses import ObjectiveConfig
from train.mixing import MixConfig
from train.model import HMMR, ModelConfig
from train.params import GLOBAL_ORIENT, POSE, SHAPE
from train.smpl_io import SMPLFormatError, load_mean_params, load_smpl_data

SMALL = ModelConfig(feature_dim=16, width=16, groups=4, regressor_width=16)


class _WritesAMarker:
    """A pickled object whose loading would run code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def _config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(root=str(tmp_path / "root"), smpl_model_dir=str(tmp_path / "smpl"), out_dir=str(tmp_path / "out"),
                    model=SMALL)
    return TrainConfig(**{**settings, **overrides})


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "evil.pt"
    torch.save({"step": 1, "config": {}, "model": {"w": torch.zeros(1)}, "payload": _WritesAMarker(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: .*(builtins|__builtin__)\.exec"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_crafted_smpl_pickle_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "SMPL_NEUTRAL.pkl"
    data = load_smpl_data(write_test_smpl(tmp_path / "good.pkl"))
    path.write_bytes(pickle.dumps(dict(data, v_template=_WritesAMarker(marker)), protocol=2))
    with pytest.raises(SMPLFormatError, match=r"SMPL_NEUTRAL\.pkl: refused: .*'(builtins|__builtin__)\.exec'"):
        load_smpl_data(path)
    assert not marker.exists()


def test_configs_round_trip_through_plain_types_and_unknown_fields_are_named(tmp_path):
    config = _config(tmp_path, datasets=("h36m", "insta"), mix=MixConfig(0.25, (("insta", 2.0),)),
                     mocap="cmu.npz", objective=ObjectiveConfig(delta_camera_scale_range=None, visibility_threshold=None))
    plain = config_to_plain(config)
    assert config_from_plain(plain) == config
    with pytest.raises(ConfigError, match=r"config\.model: unknown ModelConfig fields \['depth'\]"):
        config_from_plain({**plain, "model": {**plain["model"], "depth": 3}})


def test_the_command_line_defaults_are_the_configs():
    from pipelines.cli.train import DEFAULT_STEPS

    assert DEFAULT_STEPS == TrainConfig.__dataclass_fields__["steps"].default


def test_a_checkpoint_round_trips_and_holds_only_plain_types(tmp_path):
    config = _config(tmp_path)
    model = HMMR(SMALL)
    path = save_checkpoint(tmp_path / "checkpoint.pt", Checkpoint(step=7, config=config, model=model.state_dict(),
                                                                  torch_rng=torch.get_rng_state()))
    saved = load_checkpoint(path)  # weights_only=True inside: no class of ours is pickled
    assert saved.step == 7 and saved.config == config
    restored = HMMR(saved.config.model)
    restored.load_state_dict(saved.model)
    assert torch.equal(restored.mean_theta, model.mean_theta)


def test_resume_refuses_another_model_or_data_configuration_and_says_which_fields(tmp_path):
    saved = _config(tmp_path, window=20)
    save_checkpoint(tmp_path / "checkpoint.pt", Checkpoint(step=3, config=saved, model=HMMR(SMALL).state_dict()))
    changed = _config(tmp_path, window=16, model=ModelConfig(**{**SMALL.__dict__, "regressor_width": 32}))
    with pytest.raises(ResumeMismatch, match=r"model\.regressor_width: 16 -> 32; window: 20 -> 16"):
        _resume(tmp_path / "checkpoint.pt", changed, torch.device("cpu"))
    longer = _config(tmp_path, window=20, steps=saved.steps * 2, learning_rate=3e-5)  # may change on resume
    assert _resume(tmp_path / "checkpoint.pt", longer, torch.device("cpu")).step == 3


def test_the_cocoplus_regressor_gives_the_joints_when_the_smpl_file_has_it(tmp_path):
    path = write_test_smpl(tmp_path / "neutral_smpl_with_cocoplustoesankles_reg.pkl", cocoplus=True)
    body = BodyModel(tmp_path)
    assert body.path == path and body.joints_source == "cocoplus_regressor"
    pose = torch.zeros(2, 72)
    pose[1, 5] = 0.4
    vertices, joints = body(pose, torch.zeros(2, 10))
    regressor = load_smpl_data(path)["cocoplus_regressor"].toarray()
    np.testing.assert_allclose(joints.numpy(), np.einsum("jv,bvc->bjc", regressor, vertices.numpy()), atol=1e-5)


def test_without_cocoplus_heels_ankles_and_head_top_come_from_smpl_by_name(tmp_path):
    import smplx.vertex_ids

    from manifests.joints import HMMR_25
    from train.body import HEAD_TOP_VERTEX

    write_test_smpl(tmp_path / "SMPL_NEUTRAL.pkl")
    body = BodyModel(tmp_path)
    assert body.joints_source == "smpl_joints_by_name"
    vertices, joints = body(torch.zeros(1, 72), torch.zeros(1, 10))
    ids = smplx.vertex_ids.vertex_ids["smplh"]
    assert torch.allclose(joints[0, HMMR_25.index("right_heel")], vertices[0, ids["RHeel"]])
    assert torch.allclose(joints[0, HMMR_25.index("left_big_toe")], vertices[0, ids["LBigToe"]])
    assert torch.allclose(joints[0, HMMR_25.index("head_top")], vertices[0, HEAD_TOP_VERTEX])
    smpl_joints = body.smpl(global_orient=torch.zeros(1, 3), body_pose=torch.zeros(1, 69), betas=torch.zeros(1, 10)).joints
    assert torch.allclose(joints[0, HMMR_25.index("left_ankle")], smpl_joints[0, 7])  # SMPL's left ankle joint


def test_the_mean_pose_and_shape_come_from_hmrs_h5(tmp_path):
    write_test_smpl(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    h5 = write_test_mean_params(tmp_path / "smpl" / "neutral_smpl_meanwjoints.h5")
    assert find_mean_params(tmp_path / "smpl") == h5
    pose, shape = load_mean_params(h5)
    model = build_model(_config(tmp_path))
    start = model.mean_theta.detach()
    assert torch.allclose(start[SHAPE], torch.tensor(shape))
    assert torch.allclose(start[POSE][3:], torch.tensor(pose[3:]))
    assert start[POSE][GLOBAL_ORIENT].tolist() == pytest.approx([np.pi, 0.0, 0.0])  # upright, as theirs
    import h5py

    with h5py.File(tmp_path / "bad.h5", "w") as sink:
        sink["betas"] = np.zeros(10)
    with pytest.raises(SMPLFormatError, match=r"bad\.h5: no \['pose', 'shape'\] dataset"):
        load_mean_params(tmp_path / "bad.h5")
