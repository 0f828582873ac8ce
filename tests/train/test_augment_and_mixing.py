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


def _store_sampler(root, datasets, length, augment=False):
    from train.data import WindowSampler, prepare_store, select_tubes
    from train.sampling import SamplingRules

    tubes = select_tubes(prepare_store(root, datasets, progress=False), root, datasets, "train", length)
    return WindowSampler(tubes, SamplingRules(length, MixConfig(), augment=augment))


def _targets(root, tube_id):
    from manifests import TARGETS, read_table

    row = read_table(root, TARGETS).set_index("tube_id").loc[tube_id]
    return (np.stack(row["keypoints"]).reshape(-1, 25, 3), np.stack(row["joints_3d"]).reshape(-1, N_LSP, 3),
            np.stack(row["pose"]), np.asarray(row["shape"], np.float32))


def test_batches_from_the_store_are_split_balanced_and_carry_the_3d_targets_of_their_windows(root):
    from store_helpers import SyntheticVideo, commit_features, commit_import, commit_tracking

    h36m = SyntheticVideo("h0", "h36m", "train", (6,))
    commit_import(root, [h36m], nan_frames=(1,))  # frame 1: no 3D (3DPW, where the camera pose is not valid)
    insta = [SyntheticVideo(f"i{k}", "insta", "train", (6,)) for k in range(5)]
    commit_tracking(root, insta)
    commit_features(root, insta, views=1)
    batch = _store_sampler(root, ("h36m", "insta"), 6).batch(8, seed=3)
    assert batch.has_3d.tolist().count(1.0) == 4 and batch.has_smpl.tolist().count(1.0) == 4
    rows_3d = batch.has_3d.bool()
    assert torch.equal(torch.isnan(batch.joints_3d[rows_3d]).all(-1).any(-1),
                       torch.tensor([[False, True, False, False, False, False]] * 4))
    _, joints, pose, shape = _targets(root, h36m.tube_ids()[0])
    assert np.allclose(batch.joints_3d[rows_3d].numpy(), joints, equal_nan=True)
    assert torch.allclose(batch.pose[rows_3d], torch.from_numpy(pose).expand(4, 6, N_POSE))
    assert torch.allclose(batch.shape[rows_3d], torch.from_numpy(shape).expand(4, 6, 10))
    only_2d = _store_sampler(root, ("insta",), 6).batch(4, seed=0)
    assert only_2d.joints_3d is None and only_2d.has_3d is None


def test_a_window_from_a_mirrored_view_has_mirrored_targets(root):
    """The store keeps targets as annotated and each view's `flipped` flag; the reader mirrors."""
    from manifests import FEATURES, read_table
    from store_helpers import SyntheticVideo, commit_import
    from train.augment import mirror_windows
    from train.store_update import crop_coordinates

    video = SyntheticVideo("h0", "h36m", "train", (6,))
    commit_import(root, [video], views=2, flipped=(False, True))
    tube_id = video.tube_ids()[0]
    batch = _store_sampler(root, ("h36m",), 6, augment=True).batch(16, seed=0)
    keypoints, joints, pose, _ = _targets(root, tube_id)
    views = read_table(root, FEATURES).set_index("view").sort_index()
    assert views["flipped"].tolist() == [False, True]
    own = torch.from_numpy(np.stack(views.loc[0, "features"]).astype(np.float32))
    seen_views = [0 if torch.equal(f, own) else 1 for f in batch.features]
    assert 0 in seen_views and 1 in seen_views
    for k, view in enumerate(seen_views):
        crop, visibility = crop_coordinates(keypoints, np.stack(views.loc[view, "bbox"]))
        if view == 0:
            assert np.allclose(batch.keypoints[k].numpy(), crop, atol=1e-5)
            assert np.allclose(batch.pose[k].numpy(), pose)
        else:
            expected, seen = mirror_keypoints(crop, visibility)
            assert np.allclose(batch.keypoints[k].numpy(), expected, atol=1e-5)
            assert np.allclose(batch.visibility[k].numpy(), seen)
            assert np.allclose(batch.pose[k].numpy(), mirror_pose(pose), atol=1e-6)
            assert np.allclose(batch.joints_3d[k].numpy(), mirror_joints_3d(joints), atol=1e-6)
    unchanged = mirror_windows(batch, np.zeros(16, bool))
    assert unchanged is batch
