"""Smoothing lowers acceleration without moving a still pose; exports hold what their docs say."""
from __future__ import annotations

import numpy as np
import pytest

from render.export import NPZ_KEYS, obj_text, person_arrays, write_npz, write_obj_sequence
from render.people import PersonSequence, person_from_theta, posed_body, with_vertices
from render.smoothing import (SmoothingConfig, axis_angle_to_quaternion, continuous_quaternions, joint_acceleration_mm,
                              one_euro, quaternion_to_axis_angle, smooth_person)
from train.params import mean_theta


def jittery_person(n_frames: int = 60, noise: float = 0.05, seed: int = 0) -> PersonSequence:
    rng = np.random.default_rng(seed)
    theta = mean_theta().repeat(n_frames, 1).numpy()
    t = np.arange(n_frames)[:, None]
    theta[:, 6:75] += 0.4 * np.sin(0.1 * t + rng.uniform(0, 6, 69)) * (rng.random(69) < 0.3)  # slow motion
    theta[:, 3:75] += rng.normal(0, noise, (n_frames, 72))  # and per-frame jitter
    theta[:, :3] += rng.normal(0, 0.01, (n_frames, 3))
    return person_from_theta(4, 100, np.tile([320.0, 180.0, 1.0], (n_frames, 1)), theta)


def test_one_euro_leaves_a_constant_alone_and_calms_noise():
    config = SmoothingConfig()
    constant = np.tile([1.0, -2.0, 0.5], (30, 1))
    np.testing.assert_allclose(one_euro(constant, config), constant)
    noisy = np.cumsum(np.ones((200, 1)) * 0.01, axis=0) + np.random.default_rng(1).normal(0, 0.05, (200, 1))
    smoothed = one_euro(noisy, config)
    assert np.abs(np.diff(smoothed, 2, axis=0)).mean() < 0.2 * np.abs(np.diff(noisy, 2, axis=0)).mean()
    with pytest.raises(ValueError, match="min_cutoff must be > 0"):
        SmoothingConfig(min_cutoff=0)


def test_rotations_round_trip_and_quaternion_signs_are_made_continuous():
    rotations = np.random.default_rng(2).normal(0, 1, (50, 24, 3))
    rotations *= np.minimum(1.0, 3.0 / np.linalg.norm(rotations, axis=-1, keepdims=True))  # angles below pi
    np.testing.assert_allclose(quaternion_to_axis_angle(axis_angle_to_quaternion(rotations)), rotations, atol=1e-9)
    # A turn about z from 3.0 to 3.3 rad: axis-angle jumps from (0, 0, ~pi) to (0, 0, ~-pi) on the way.
    angles = np.linspace(3.0, 3.3, 20)
    turn = np.stack([np.zeros(20), np.zeros(20), np.where(angles <= np.pi, angles, angles - 2 * np.pi)], -1)[:, None]
    q = axis_angle_to_quaternion(turn)
    continuous = continuous_quaternions(np.where(np.arange(20)[:, None, None] % 3 == 1, -q, q))  # signs scrambled
    assert ((continuous[1:] * continuous[:-1]).sum(-1) > 0.99).all()
    # So the filter follows the turn instead of averaging q and -q (the same rotation) to nothing.
    filtered = one_euro(continuous, SmoothingConfig(min_cutoff=0.2))
    filtered /= np.linalg.norm(filtered, axis=-1, keepdims=True)
    distance = 2 * np.arccos(np.clip(np.abs((filtered * q).sum(-1)), 0, 1))
    assert distance.max() < 0.1
    back = quaternion_to_axis_angle(filtered)
    assert (np.linalg.norm(back, axis=-1) <= np.pi + 1e-9).all()


def test_smoothing_a_person_lowers_joint_acceleration(body):
    person = jittery_person()
    smoothed = smooth_person(person)
    assert smoothed.vertices is None and smoothed.pose.shape == person.pose.shape
    before = joint_acceleration_mm(posed_body(body, person)[1])
    after = joint_acceleration_mm(posed_body(body, smoothed)[1])
    assert after < 0.5 * before
    # The camera is smoothed too, and a still person stays where it was.
    assert np.abs(np.diff(smoothed.camera, 2, axis=0)).mean() < np.abs(np.diff(person.camera, 2, axis=0)).mean()
    still = jittery_person(noise=0.0)
    still = PersonSequence(**{**still.__dict__, "pose": np.tile(still.pose[:1], (still.n_frames, 1)),
                              "camera": np.tile(still.camera[:1], (still.n_frames, 1))})
    np.testing.assert_allclose(smooth_person(still).pose, still.pose, atol=1e-5)


def test_the_npz_holds_the_documented_keys_and_shapes(body, faces, tmp_path):
    person = with_vertices(body, jittery_person(n_frames=12))
    joints = posed_body(body, person)[1]
    path = write_npz(tmp_path / "p.npz", person_arrays(person, 25.0, faces=faces, joints=joints,
                                                       extra={"keypoints": np.zeros((12, 25, 3))}))
    arrays = np.load(path)
    assert set(NPZ_KEYS) <= set(arrays.files)
    assert arrays["frames"].tolist() == list(range(100, 112)) and float(arrays["fps"]) == 25.0
    assert int(arrays["track_id"]) == 4 and not bool(arrays["smoothed"])
    assert arrays["pose"].shape == (12, 72) and arrays["betas"].shape == (12, 10) and arrays["camera"].shape == (12, 3)
    assert arrays["bbox"].shape == (12, 3) and arrays["vertices"].shape == (12, 6890, 3)
    assert arrays["faces"].shape == (13776, 3) and arrays["joints"].shape == (12, 25, 3)
    np.testing.assert_allclose(arrays["pose"], person.pose)
    with pytest.raises(ValueError, match="overwrite"):
        person_arrays(person, 25.0, faces=faces, extra={"pose": np.zeros(1)})
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_obj_sequence_is_one_readable_mesh_per_frame_upright(body, faces, tmp_path):
    person = with_vertices(body, jittery_person(n_frames=3))
    paths = write_obj_sequence(tmp_path / "objs", person, faces, (640, 360))
    assert [p.name for p in paths] == ["track4_000100.obj", "track4_000101.obj", "track4_000102.obj"]
    lines = paths[0].read_text().splitlines()
    vertices = np.array([[float(x) for x in line.split()[1:]] for line in lines if line.startswith("v ")])
    face_rows = np.array([[int(x) for x in line.split()[1:]] for line in lines if line.startswith("f ")])
    real_faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    assert vertices.shape == (6890, 3) and face_rows.shape == (len(real_faces), 3)
    assert face_rows.min() == 1 and face_rows.max() <= 6890  # OBJ counts from one
    # Y up: the head (vertex 411, the head top) is above the feet; the person stands in front of the camera (-Z).
    assert vertices[411, 1] > vertices[:, 1].min() + 1.0 and vertices[:, 2].max() < 0
    assert obj_text(np.zeros((3, 3)), np.array([[0, 1, 2], [0, 0, 0]])).count("\nf ") == 1
