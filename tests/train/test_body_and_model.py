"""SMPL without chumpy, HMMR joints, and every model output's shape; the temporal receptive field."""
from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from manifests.joints import HMMR_25
from train.body import BodyModel, write_test_smpl
from train.model import HMMR, ModelConfig, PoseDiscriminator
from train.smpl_io import SMPLFormatError, load_smpl_data

SMALL = ModelConfig(feature_dim=64, width=64, groups=8, regressor_width=32)


@pytest.fixture(scope="session")
def smpl_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smpl")
    write_test_smpl(folder / "SMPL_NEUTRAL.pkl")
    return folder


def test_an_smpl_pickle_with_chumpy_objects_loads_without_chumpy(tmp_path, smpl_dir):
    data = load_smpl_data(smpl_dir / "SMPL_NEUTRAL.pkl")
    # Pickle shapedirs the way the official files do: as a chumpy.ch.Ch object holding the array in 'x'.
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x

        def __getstate__(self):
            return {"x": self.x, "_dirty_vars": set()}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch, chumpy.ch = Ch, ch
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
    try:
        official_like = dict(data, shapedirs=Ch(data["shapedirs"]))
        path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
        path.write_bytes(pickle.dumps(official_like, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    loaded = load_smpl_data(path)
    np.testing.assert_array_equal(loaded["shapedirs"], data["shapedirs"])
    body = BodyModel(tmp_path)
    vertices, joints = body(torch.zeros(2, 72), torch.zeros(2, 10))
    assert vertices.shape == (2, 6890, 3) and joints.shape == (2, len(HMMR_25), 3)


def test_a_file_that_is_not_smpl_is_refused_by_name(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3))}))
    with pytest.raises(SMPLFormatError, match=r"missing SMPL keys \['shapedirs'"):
        load_smpl_data(path)
    with pytest.raises(SMPLFormatError, match="no SMPL male model .* smpl.is.tue.mpg.de"):
        BodyModel(tmp_path, gender="male")


def test_hmmr_joints_follow_the_body(smpl_dir):
    body = BodyModel(smpl_dir)
    pose = torch.zeros(1, 72)
    _, rest = body(pose, torch.zeros(1, 10))
    pose[0, 0] = np.pi  # turn the whole body over: every joint moves, none is left behind
    _, turned = body(pose, torch.zeros(1, 10))
    # A half turn about x (around the pelvis) flips y and z of every joint relative to the others.
    relative_rest, relative_turned = rest[0] - rest[0, :1], turned[0] - turned[0, :1]
    assert torch.allclose(relative_turned[:, 1:], -relative_rest[:, 1:], atol=1e-4)
    assert torch.allclose(relative_turned[:, 0], relative_rest[:, 0], atol=1e-4)


def test_every_output_has_its_shape():
    model = HMMR(SMALL)
    output = model(torch.randn(2, 20, 64))
    for prediction in (output.movie, output.hallucinated):
        assert prediction.theta.shape == (2, 20, 85)
        assert prediction.past_pose.shape == prediction.future_pose.shape == (2, 20, 72)
    assert output.movie_strip.shape == output.hallucinated_strip.shape == (2, 20, 64)
    single = model.predict_single_frame(torch.randn(3, 64))
    assert single.theta.shape == (3, 1, 85)
    assert PoseDiscriminator()(torch.randn(5, 23, 9)).shape == (5, 24)


def test_the_temporal_encoder_sees_13_frames():
    """The convolutions reach +-6 frames. (GroupNorm's statistics span the window, as in the paper, so
    they are taken out here to look at the convolutional structure alone.)"""
    model = HMMR(SMALL).eval()
    for block in model.encoder.blocks:
        block.norm1, block.norm2 = torch.nn.Identity(), torch.nn.Identity()
        torch.nn.init.normal_(block.conv2.weight)  # it starts near zero: make the second conv count here
    features = torch.randn(1, 40, 64)
    changed = features.clone()
    changed[0, 20] += 5.0
    with torch.no_grad():
        difference = (model.encoder(changed) - model.encoder(features)).abs().sum(-1)[0]
    affected = torch.nonzero(difference > 1e-5).flatten().tolist()
    assert affected == list(range(14, 27)) and SMALL.receptive_field == 13


def test_paper_size_model_builds():
    model = HMMR(ModelConfig())
    n_parameters = sum(p.numel() for p in model.parameters())
    assert 60e6 < n_parameters < 120e6  # 6 conv layers of 2048x2048x3 dominate
