"""Mirrored targets (keypoints, 3D joints, SMPL pose) and split-balanced batches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from manifests.joints import HMMR_25, N_LSP
from train.augment import mirror_joints_3d, mirror_keypoints, mirror_pose
from train.mixing import MixConfig, parse_mix, split_balanced_picks
from train.model import body_rotations
from train.params import N_POSE, N_SMPL_JOINTS


def test_mirrored_keypoints_swap_sides_and_negate_x():
    rng = np.random.default_rng(0)
    keypoints, visibility = rng.uniform(-1, 1, (3, 25, 2)), rng.random((3, 25))
    mirrored, seen = mirror_keypoints(keypoints, visibility)
    left, right = HMMR_25.index("left_wrist"), HMMR_25.index("right_wrist")
    assert np.allclose(mirrored[:, left], keypoints[:, right] * [-1, 1]) and np.allclose(seen[:, left], visibility[:, right])
    neck = HMMR_25.index("neck")
    assert np.allclose(mirrored[:, neck], keypoints[:, neck] * [-1, 1])
    twice = mirror_keypoints(*mirror_keypoints(keypoints, visibility))
    assert np.allclose(twice[0], keypoints) and np.allclose(twice[1], visibility)


def test_a_mirrored_pose_is_each_rotation_reflected_with_sides_swapped():
    """R -> M R M (M = diag(-1, 1, 1)) at the mirror twin's joint: what a body seen in a mirror does."""
    from train.body import SMPLX_SMPL_JOINTS
    from train.augment import mirrored_name

    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.5, (4, N_POSE)).astype(np.float32)
    rotations = body_rotations(torch.from_numpy(pose)).reshape(4, N_SMPL_JOINTS, 3, 3)
    mirrored = body_rotations(torch.from_numpy(mirror_pose(pose))).reshape(4, N_SMPL_JOINTS, 3, 3)
    reflect = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
    names = SMPLX_SMPL_JOINTS[:N_SMPL_JOINTS]
    for j, name in enumerate(names):
        twin = names.index(mirrored_name(name))
        assert torch.allclose(mirrored[:, j], reflect @ rotations[:, twin] @ reflect, atol=1e-5), name
    assert np.allclose(mirror_pose(mirror_pose(pose)), pose)


def test_mirrored_3d_joints_swap_sides_and_negate_x():
    joints = np.random.default_rng(2).normal(0, 0.3, (5, N_LSP, 3))
    mirrored = mirror_joints_3d(joints)
    knee_l, knee_r = HMMR_25.index("left_knee"), HMMR_25.index("right_knee")
    assert np.allclose(mirrored[:, knee_l], joints[:, knee_r] * [-1, 1, 1])
    assert np.allclose(mirror_joints_3d(mirrored), joints)
    with pytest.raises(ValueError, match="14 LSP or 25 HMMR_25 joints, got 17"):
        mirror_joints_3d(np.zeros((17, 3)))


def test_half_of_each_batch_comes_from_3d_sequences_by_default():
    datasets = ["h36m"] * 3 + ["insta"] * 40 + ["vlog"] * 2
    has_3d = np.array([True] * 3 + [False] * 42)
    rng = np.random.default_rng(0)
    for _ in range(20):
        picks = split_balanced_picks(rng, 8, datasets, has_3d, MixConfig())
        assert len(picks) == 8 and has_3d[picks].sum() == 4
    # Odd batches and other shares hold on average; vlog's 2 sequences get as many windows as insta's 40.
    picks = np.concatenate([split_balanced_picks(rng, 5, datasets, has_3d, MixConfig(0.3)) for _ in range(2000)])
    assert has_3d[picks].mean() == pytest.approx(0.3, abs=0.02)
    two_d = [datasets[i] for i in picks if not has_3d[i]]
    assert two_d.count("vlog") / len(two_d) == pytest.approx(0.5, abs=0.03)


def test_with_only_one_kind_of_sequence_every_window_comes_from_it():
    rng = np.random.default_rng(0)
    assert len(split_balanced_picks(rng, 8, ["insta"] * 4, np.zeros(4, bool), MixConfig())) == 8
    assert len(split_balanced_picks(rng, 8, ["h36m"] * 4, np.ones(4, bool), MixConfig())) == 8


def test_mix_parses_the_3d_share_and_dataset_weights():
    assert parse_mix("3d=0.5,insta=2,vlog=1") == MixConfig(0.5, (("insta", 2.0), ("vlog", 1.0)))
    assert parse_mix("0.25") == MixConfig(0.25, ())
    assert parse_mix("") == MixConfig()
    with pytest.raises(ValueError, match=r"weight for 'insta' must be a positive number"):
        parse_mix("insta=-1")
    with pytest.raises(ValueError, match=r"share of a batch must be in \[0, 1\], got 2.0"):
        parse_mix("3d=2")


def _sequence(name: str, dataset: str, n: int, views: int, flipped: tuple[bool, ...], with_3d: bool, seed: int):
    from train.data import Sequence

    rng = np.random.default_rng(seed)
    joints_3d = rng.normal(0, 0.3, (n, N_LSP, 3)).astype(np.float32) if with_3d else None
    if joints_3d is not None:
        joints_3d[1] = np.nan  # a frame without 3D (3DPW, where the camera pose is not valid)
    return Sequence(name, dataset, features=rng.normal(0, 1, (views, n, 8)).astype(np.float32),
                    keypoints=rng.uniform(-1, 1, (views, n, 25, 2)).astype(np.float32),
                    visibility=rng.random((n, 25)).astype(np.float32), flipped=np.array(flipped),
                    joints_3d=joints_3d, pose=rng.normal(0, 0.3, (n, N_POSE)).astype(np.float32) if with_3d else None,
                    shape=rng.normal(0, 1, 10).astype(np.float32) if with_3d else None)


def test_batches_are_split_balanced_and_carry_the_3d_targets_of_their_windows():
    from train.data import WindowSampler

    sequences = [_sequence("h0", "h36m", 6, 1, (False,), True, 0)] + [
        _sequence(f"i{k}", "insta", 6, 1, (False,), False, k + 1) for k in range(5)]
    sampler = WindowSampler(sequences, length=6, mix=MixConfig())
    batch = sampler.batch(8, seed=3)
    assert batch.has_3d.tolist().count(1.0) == 4 and batch.has_smpl.tolist().count(1.0) == 4
    rows_3d = batch.has_3d.bool()
    assert torch.equal(torch.isnan(batch.joints_3d[rows_3d]).all((2, 3)),
                       torch.tensor([[False, True, False, False, False, False]] * 4))  # frame 1: no 3D
    assert torch.isnan(batch.joints_3d[~rows_3d]).all() and torch.isnan(batch.pose[~rows_3d]).all()
    assert torch.allclose(batch.shape[rows_3d], torch.from_numpy(sequences[0].shape).expand(4, 6, 10))
    only_2d = WindowSampler(sequences[1:], length=6).batch(4, seed=0)
    assert only_2d.joints_3d is None and only_2d.has_3d is None


def test_a_window_from_a_mirrored_view_has_mirrored_targets():
    from train.augment import mirror_windows
    from train.data import WindowSampler

    sequence = _sequence("h0", "h36m", 6, 2, (False, True), True, 0)
    batch = WindowSampler([sequence], length=6, augment=True).batch(16, seed=0)
    own = torch.from_numpy(sequence.keypoints[0])
    views = [0 if torch.allclose(f, torch.from_numpy(sequence.features[0])) else 1 for f in batch.features]
    assert 0 in views and 1 in views
    for k, view in enumerate(views):
        if view == 0:
            assert torch.allclose(batch.keypoints[k], own) and torch.allclose(batch.pose[k], torch.from_numpy(sequence.pose))
        else:
            expected, seen = mirror_keypoints(sequence.keypoints[1], sequence.visibility)
            assert np.allclose(batch.keypoints[k].numpy(), expected) and np.allclose(batch.visibility[k].numpy(), seen)
            assert np.allclose(batch.pose[k].numpy(), mirror_pose(sequence.pose))
            assert np.allclose(batch.joints_3d[k].numpy(), mirror_joints_3d(sequence.joints_3d), equal_nan=True)
    unchanged = mirror_windows(batch, np.zeros(16, bool))
    assert unchanged is batch
