"""Human3.6M (Ionescu et al., TPAMI 2014): 11 subjects, 15 actions, 4 cameras, motion capture at 50 fps.

Layout (the release's per-subject archives, unpacked into one folder):
  S<n>/Videos/<Action>.<camera>.mp4
  S<n>/MyPoseFeatures/D2_Positions/<Action>.<camera>.cdf        'Pose': 1 x N x 64 (32 joints x, y pixels)
  S<n>/MyPoseFeatures/D3_Positions_mono/<Action>.<camera>.cdf   'Pose': 1 x N x 96 (32 joints, mm, camera axes)
Read with `cdflib` (pure Python; no NASA CDF library). As the released HMMR code did: every second frame
(25 fps), the 14 LSP joints (its ankles fill the heel slots 0 and 5), all 14 visible, subjects 1, 6, 7, 8
train, 5 val, 9 and 11 test, and only camera 60457274 (its `cam03`) in the test split. D3_Positions_mono
is needed (not the world-axes D3_Positions): the model predicts bodies in camera axes. No SMPL (no MoSh).
The videos are linked into media/, not copied.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from manifests.joints import N_LSP, convert_joints, HMMR_25
from manifests.status import UnitPayload, UnitResult
from published.media import describe_media, link_media, video_id_of
from published.tubes import AnnotatedPerson, in_layouts, sequence_tables
from manifests.errors import InputError

# The 32 joints of Human3.6M's pose files, named in our vocabulary where they are body joints.
H36M_32: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "right_toe_base", "right_toe_end", "left_hip", "left_knee",
    "left_ankle", "left_toe_base", "left_toe_end", "spine", "thorax", "neck", "head", "head_top", "left_clavicle",
    "left_shoulder", "left_elbow", "left_wrist", "left_thumb", "left_thumb_end", "left_wrist_end", "left_hand_end",
    "right_clavicle", "right_shoulder", "right_elbow", "right_wrist", "right_thumb", "right_thumb_end",
    "right_wrist_end", "right_hand_end",
)
# The 14 the released code used (its COMMON_JOINT_IDS), and the training slot each fills.
H36M_LSP: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
)
TRAINING_SLOT = {"right_ankle": "right_heel", "left_ankle": "left_heel"}
SUBJECT_SPLITS = {"S1": "train", "S6": "train", "S7": "train", "S8": "train", "S5": "val", "S9": "test", "S11": "test"}
TEST_CAMERAS = ("60457274",)
NATIVE_FPS = 50.0
FRAME_STEP = 2  # 50 -> 25 fps


class H36MError(InputError, ValueError):
    """A Human3.6M file that is not as the release ships it."""


@dataclass(frozen=True)
class H36MSequence:
    subject: str
    action: str  # as in the file names, e.g. "Directions 1"
    camera: str
    split: str
    pose_3d: Path
    pose_2d: Path
    video: Path

    def video_id(self, dataset: str = "h36m") -> str:
        return video_id_of(dataset, self.subject, self.action, self.camera)


def list_h36m_sequences(source: Path, splits: tuple[str, ...], test_cameras: tuple[str, ...] = TEST_CAMERAS) -> list[H36MSequence]:
    """Every (subject, action, camera) of the wanted splits that has 3D, 2D and video files."""
    source = Path(source)
    found = []
    subjects = [s for s, split in SUBJECT_SPLITS.items() if split in splits]
    present = [s for s in subjects if (source / s).is_dir()]
    if not present:
        raise H36MError(f"{source}: none of the subject folders {subjects}; expected Human3.6M's layout "
                        f"(S<n>/Videos/<Action>.<camera>.mp4, S<n>/MyPoseFeatures/D2_Positions and D3_Positions_mono)")
    for subject in present:
        split = SUBJECT_SPLITS[subject]
        folder = source / subject / "MyPoseFeatures" / "D3_Positions_mono"
        if not folder.is_dir():
            world = source / subject / "MyPoseFeatures" / "D3_Positions"
            hint = f" ({world} holds world axes; download the 'D3 Positions mono' archive)" if world.is_dir() else ""
            raise H36MError(f"{folder}: missing; the 3D joints must be in camera axes{hint}")
        for pose_3d in sorted(folder.glob("*.cdf")):
            action, _, camera = pose_3d.stem.rpartition(".")
            if not action or (split == "test" and camera not in test_cameras):
                continue
            pose_2d = source / subject / "MyPoseFeatures" / "D2_Positions" / pose_3d.name
            video = source / subject / "Videos" / f"{pose_3d.stem}.mp4"
            for needed in (pose_2d, video):
                if not needed.is_file():
                    raise H36MError(f"{pose_3d} has no matching {needed.relative_to(source)}")
            found.append(H36MSequence(subject, action, camera, split, pose_3d, pose_2d, video))
    return found


def read_h36m_poses(path: Path, dims: int) -> np.ndarray:
    """(N, 32, dims) from a pose .cdf file's 'Pose' variable (cdflib gives 1 x N x 32*dims)."""
    import cdflib

    try:
        poses = np.asarray(cdflib.CDF(str(path)).varget("Pose"), dtype=np.float64)
    except (OSError, ValueError, KeyError) as e:
        raise H36MError(f"{path}: not a Human3.6M pose file with a 'Pose' variable ({type(e).__name__}: {e})") from e
    if poses.size % (32 * dims) or poses.shape[-1] != 32 * dims:
        raise H36MError(f"{path}: 'Pose' has shape {poses.shape}, expected 1 x N x {32 * dims} (32 joints x {dims})")
    return poses.reshape(-1, 32, dims)


def h36m_person(pose_2d: np.ndarray, pose_3d_mm: np.ndarray, source: str) -> AnnotatedPerson:
    """The 14 LSP joints of every frame, visible, in the released code's slots; 3D in metres."""
    lsp = [H36M_32.index(name) for name in H36M_LSP]
    keypoints = np.concatenate([pose_2d[:, lsp], np.ones((len(pose_2d), len(lsp), 1))], axis=-1)
    training_names = tuple(TRAINING_SLOT.get(name, name) for name in H36M_LSP)
    training, body25 = in_layouts(keypoints, H36M_LSP, training_names)
    joints_3d = convert_joints(pose_3d_mm[:, lsp] / 1000.0, training_names, HMMR_25)[:, :N_LSP]
    return AnnotatedPerson(track_id=0, training_keypoints=training, body25_keypoints=body25, source=source,
                           joints_3d=joints_3d.astype(np.float32))


@dataclass(frozen=True)
class H36MPayload(UnitPayload):
    """One (subject, action, camera) to import (unit_id: its video id): the dataset and split it joins, its
    D2_Positions and D3_Positions_mono files and its video."""

    dataset: str
    split: str
    pose_2d: str
    pose_3d: str
    video: str


def h36m_unit(payload: H36MPayload, context: Any, root: str) -> UnitResult:
    """Import one (subject, action, camera): its video linked under media/, one tube with 2D and 3D."""
    video_id, pose_2d_path, pose_3d_path = payload.unit_id, Path(payload.pose_2d), Path(payload.pose_3d)
    pose_2d, pose_3d = read_h36m_poses(pose_2d_path, 2), read_h36m_poses(pose_3d_path, 3)
    if len(pose_2d) != len(pose_3d):
        raise H36MError(f"{pose_2d_path.name}: {len(pose_2d)} frames in D2_Positions but {len(pose_3d)} in D3_Positions_mono")
    media = link_media(Path(payload.video), Path(root) / "media" / f"{video_id}.mp4")
    video = describe_media(Path(root), media, video_id, payload.dataset, payload.split, payload.video,
                           title=f"Human3.6M {pose_3d_path.parents[2].name} {pose_3d_path.stem}")
    fps = video.probe.fps / FRAME_STEP
    step = slice(None, None, FRAME_STEP)
    # The poses are sometimes a few frames shorter than the video, never longer; keep what both have.
    n_frames = min(len(pose_2d[step]), int(video.probe.n_frames) // FRAME_STEP)
    person = h36m_person(pose_2d[step][:n_frames], pose_3d[step][:n_frames],
                         source=f"h36m {pose_3d_path.parents[2].name}/{pose_3d_path.parent.name}/{pose_3d_path.name}")
    tables = sequence_tables(video.row(), fps, [person], n_frames)
    return tables.unit_result(n_frames)
