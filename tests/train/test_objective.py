"""The objective as the released code computes it: each term on hand-made cases, the gradients that
must flow, and a 3D-supervised model that learns its joints."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from manifests.joints import HMMR_25, N_LSP
from train.body import BodyModel, write_test_smpl
from train.camera import optimal_camera, project
from train.losses import Batch, Criterion, ObjectiveConfig, align_by_pelvis, keypoint_loss, masked_mse
from train.eval_metrics import joint_errors
from train.model import HMMR, ModelConfig, PoseDiscriminator
from train.params import N_POSE, N_SHAPE, POSE, mean_theta

TINY = ModelConfig(feature_dim=32, width=32, groups=4, regressor_width=32, dropout=0.0)


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smpl")
    return BodyModel(write_test_smpl(folder / "SMPL_NEUTRAL.pkl"))


def test_the_keypoint_loss_averages_over_coordinates_of_visible_joints():
    predicted = torch.tensor([[[0.1, 0.2], [0.5, -0.5], [9.0, 9.0]]])
    target = torch.zeros(1, 3, 2)
    visible = torch.tensor([[1.0, 1.0, 0.0]])
    # (0.1 + 0.2 + 0.5 + 0.5) / 4 coordinates: half of the old per-joint |dx| + |dy|.
    assert float(keypoint_loss(predicted, target, visible)) == pytest.approx(1.3 / 4)
    assert float(keypoint_loss(predicted, target, torch.zeros(1, 3))) == 0.0


def test_visibility_is_binary_at_0_1_by_default(body):
    criterion = Criterion(body, ObjectiveConfig(), None, delta_frames=2)
    confidence = torch.tensor([0.05, 0.1, 0.9])
    assert criterion._visibility_weight(confidence).tolist() == [0.0, 1.0, 1.0]
    raw = Criterion(body, ObjectiveConfig(visibility_threshold=None), None, delta_frames=2)
    assert torch.equal(raw._visibility_weight(confidence), confidence)


def test_the_fitted_camera_of_a_mirrored_pose_is_clipped_to_0_7():
    rng = np.random.default_rng(0)
    joints = torch.tensor(rng.normal(0, 0.3, (25, 3)))
    keypoints = project(joints, torch.tensor([0.9, 0.0, 0.0], dtype=torch.float64))
    keypoints[:, 0] *= -1  # the pose faces the other way: the best scale is near zero or negative
    visible = torch.ones(25, dtype=torch.float64)
    assert float(optimal_camera(joints, keypoints, visible)[0]) < 0.3
    assert float(optimal_camera(joints, keypoints, visible, (0.7, 10.0))[0]) == pytest.approx(0.7)


def test_3d_joints_are_compared_on_the_lsp_joints_after_moving_each_pelvis_to_the_origin():
    rng = np.random.default_rng(1)
    joints = torch.tensor(rng.normal(0, 0.3, (2, 25, 3)))
    moved = joints + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    moved[:, N_LSP:] += 5.0  # face and feet do not count
    assert torch.allclose(align_by_pelvis(moved), align_by_pelvis(joints))
    hips = align_by_pelvis(joints)[:, [HMMR_25.index("left_hip"), HMMR_25.index("right_hip")]]
    assert torch.allclose(hips.sum(1), torch.zeros(2, 3, dtype=torch.float64))
    # 0.5 * mean squared error over the windows that have 3D; none -> 0.
    assert float(masked_mse(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([1, 0]))) == pytest.approx(0.5)
    assert float(masked_mse(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 0]))) == 0.0


def _batch(n_windows: int, frames: int, seed: int = 0, with_3d: bool = True) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    pose = mean_theta()[3:3 + N_POSE].repeat(n_windows, frames, 1) + 0.1 * torch.randn(n_windows, frames, N_POSE,
                                                                                         generator=generator)
    return Batch(features=torch.randn(n_windows, frames, TINY.feature_dim, generator=generator),
                 keypoints=torch.rand(n_windows, frames, 25, 2, generator=generator) - 0.5,
                 visibility=torch.ones(n_windows, frames, 25),
                 joints_3d=torch.randn(n_windows, frames, N_LSP, 3, generator=generator) * 0.2 if with_3d else None,
                 pose=pose if with_3d else None, shape=torch.zeros(n_windows, frames, N_SHAPE) if with_3d else None,
                 has_3d=torch.tensor([1.0] + [0.0] * (n_windows - 1)) if with_3d else None)


def test_every_released_loss_is_there_with_its_name(body):
    criterion = Criterion(body, ObjectiveConfig(), PoseDiscriminator(), delta_frames=2)
    losses = criterion(HMMR(TINY)(_batch(2, 6).features), _batch(2, 6))
    expected = {f"{prefix}{when}_{term}" for prefix in ("", "hallucinated_") for when in ("present", "past", "future")
                for term in ("keypoints", "joints_3d", "smpl")}
    expected |= {"adversarial", "shape_prior", "constant_shape", "hallucination"}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())


def test_frames_without_3d_are_left_out_of_the_3d_losses(body):
    """A NaN frame (3DPW, where the camera pose is not valid) and a window without 3D add nothing; before,
    one NaN frame made every 3D loss NaN."""
    criterion = Criterion(body, ObjectiveConfig(adversarial=0.0, hallucination=False), None, delta_frames=2)
    model = HMMR(TINY).eval()
    batch = _batch(2, 6)
    batch.has_3d = torch.ones(2)  # both windows, but the second has no 3D at all and the first loses frame 3
    batch.joints_3d[1] = float("nan")
    batch.pose[1] = float("nan")
    batch.joints_3d[0, 3] = float("nan")
    with torch.no_grad():
        output = model(batch.features)
        losses = criterion(output, batch)
    assert all(torch.isfinite(v) for v in losses.values())
    kept = _batch(2, 6)
    kept.has_3d = torch.tensor([[1.0, 1.0, 1.0, 0.0, 1.0, 1.0], [0.0] * 6])  # the same frames, as per-frame flags
    kept.has_smpl = torch.tensor([[1.0] * 6, [0.0] * 6])  # window 0 keeps its SMPL at frame 3
    with torch.no_grad():
        expected = criterion(output, kept)
    for name in ("present_joints_3d", "past_joints_3d", "future_joints_3d", "present_smpl"):
        assert float(losses[name]) == pytest.approx(float(expected[name]), rel=1e-6), name


def test_the_prior_scores_every_prediction_and_sums_the_24_outputs(body):
    model, discriminator = HMMR(TINY), PoseDiscriminator()
    criterion = Criterion(body, ObjectiveConfig(), discriminator, delta_frames=2)
    output = model(torch.randn(2, 6, TINY.feature_dim))
    fakes = criterion.fake_rotations(output)
    assert fakes.shape == (6 * 2 * 6, 23, 9)  # present, past, future; temporal and hallucinated
    scores = discriminator(fakes)
    losses = criterion(output, _batch(2, 6, with_3d=False))
    assert float(losses["adversarial"]) == pytest.approx(float((scores - 1).pow(2).sum(-1).mean()), rel=1e-5)
    only_present = Criterion(body, ObjectiveConfig(hallucination=False), discriminator, delta_frames=2)
    assert len(only_present.fake_rotations(output)) == 3 * 2 * 6


def test_gradients_flow_where_the_released_code_lets_them(body):
    """The hallucination target is not detached, and the delta regressors start from the current pose
    without stopping its gradient: both reach the temporal encoder / the present regressor."""
    one_step = ModelConfig(**{**TINY.__dict__, "iterations": 1})  # so fc3's pose rows reach only the pose
    model = HMMR(one_step)
    output = model(torch.randn(2, 6, TINY.feature_dim))
    criterion = Criterion(body, ObjectiveConfig(), None, delta_frames=2)
    losses = criterion(output, _batch(2, 6, with_3d=False))
    losses["hallucination"].backward(retain_graph=True)
    assert model.encoder.blocks[0].conv1.weight.grad.abs().sum() > 0
    model.zero_grad()
    losses["past_keypoints"].backward()
    # Through the pose the past regressor starts from (the shape rows get gradient either way: a delta
    # prediction uses its frame's shape, not detached in theirs either).
    assert model.regressor.fc3.weight.grad[POSE].abs().sum() > 0
    detached = HMMR(ModelConfig(**{**one_step.__dict__, "detach_delta_start": True}))
    loss = Criterion(body, ObjectiveConfig(), None, 2)(detached(torch.randn(2, 6, TINY.feature_dim)),
                                                      _batch(2, 6, with_3d=False))["past_keypoints"]
    loss.backward()
    assert detached.regressor.fc3.weight.grad[POSE].abs().sum() == 0


def test_the_layers_start_as_the_released_ones():
    model = HMMR(ModelConfig(feature_dim=256, width=256, groups=8, regressor_width=128))
    block = model.encoder.blocks[0]
    # TF variance scaling, FAN_AVG, uniform: limit sqrt(3 * factor / fan_avg), fan = 256 * 3 for a k3 conv.
    assert float(block.conv2.weight.abs().max()) <= math.sqrt(3 * 0.001 / (256 * 3)) + 1e-7
    assert float(block.conv1.weight.abs().max()) > 10 * float(block.conv2.weight.abs().max())
    assert float(model.regressor.fc3.weight.abs().max()) <= math.sqrt(3 * 0.01 / ((128 + 85) / 2)) + 1e-7
    assert [name for name, _ in model.hallucinator.named_children()] == ["skip", "fc1", "fc2", "fc3"]
    features = torch.randn(1, 10, 256)
    strip = model.encoder(features)
    assert float((strip - features).norm() / features.norm()) < 0.1  # each block starts near the identity


def test_a_3d_supervised_model_learns_its_joints(body):
    """Overfit: a handful of windows whose only supervision is 3D joints and SMPL; MPJPE must fall."""
    torch.manual_seed(0)
    n_windows, frames = 2, 6
    generator = torch.Generator().manual_seed(3)
    pose = mean_theta()[3:3 + N_POSE].repeat(n_windows, frames, 1)
    pose[..., 3:] += 0.4 * torch.randn(n_windows, 1, N_POSE - 3, generator=generator) * torch.sin(
        torch.arange(frames)[None, :, None] * 0.3)
    shape = torch.zeros(n_windows, frames, N_SHAPE)
    with torch.no_grad():
        _, joints = body(pose.reshape(-1, N_POSE), shape.reshape(-1, N_SHAPE))
    joints = joints.reshape(n_windows, frames, 25, 3)[:, :, :N_LSP]
    features = torch.randn(n_windows, frames, TINY.feature_dim, generator=generator)
    batch = Batch(features=features, keypoints=torch.zeros(n_windows, frames, 25, 2),
                  visibility=torch.zeros(n_windows, frames, 25), joints_3d=joints, pose=pose, shape=shape,
                  has_3d=torch.ones(n_windows))
    model = HMMR(TINY)
    # Without the hallucinated predictions, to keep the body model's work (and the test) small.
    criterion = Criterion(body, ObjectiveConfig(adversarial=0.0, hallucination=False), None, delta_frames=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

    def error() -> float:
        with torch.no_grad():
            theta = model(features).movie.theta
            _, predicted = body(theta[..., 3:3 + N_POSE].reshape(-1, N_POSE), theta[..., -N_SHAPE:].reshape(-1, N_SHAPE))
        return float(joint_errors(joints.reshape(-1, N_LSP, 3).numpy(), predicted[:, :N_LSP].numpy())[0].mean())

    before = error()
    for _ in range(50):
        losses = criterion(model(features), batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    after = error()
    print(f"MPJPE {1000 * before:.1f} mm -> {1000 * after:.1f} mm")
    assert after < before / 3
