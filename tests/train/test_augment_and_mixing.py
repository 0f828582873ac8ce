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
