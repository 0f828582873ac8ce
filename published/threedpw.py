"""3DPW (von Marcard et al., ECCV 2018): 60 outdoor sequences with IMU-fitted SMPL for 1-2 people.

Layout (the release `3DPW`):
  imageFiles/<seq>/image_00000.jpg, ...            the frames (1080 x 1920 or 1920 x 1080, 30 fps)
  sequenceFiles/{train,validation,test}/<seq>.pkl  a Python 2 pickle per sequence: per person lists of
      poses (N x 72), betas (>= 10), trans (N x 3), poses2d (N x 3 x 18: OpenPose COCO-18 x, y, score),
      jointPositions (N x 72), campose_valid (N); and cam_poses (N x 4 x 4 world -> camera),
      cam_intrinsics (3 x 3), img_frame_ids (N), genders ('m' / 'f'), sequence.
Each person becomes a tube. 2D keypoints: poses2d with score > 0.1 visible (the released code's
threshold), joints by name (its ankles fill the ankle slots 23/24). 3D joints: the person's SMPL
(gendered model, pose, betas, trans) in the training layout, moved into camera axes by cam_poses; frames
whose camera pose is not valid (campose_valid 0) hold NaN. This needs the SMPL model files; without them
the tubes carry 2D, pose and shape only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from manifests.joints import N_LSP
from manifests.status import UnitPayload, UnitResult
from published.media import describe_media, remux_jpegs
from published.py2pickle import load_py2_pickle
from published.tubes import AnnotatedPerson, binary_visibility, in_layouts, sequence_tables
from manifests.errors import InputError

# OpenPose's COCO-18 order, which 3DPW's poses2d use.
COCO_18: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear",
)
SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}
FPS = 30.0
VISIBLE_SCORE = 0.1  # the released code's VIS_THRESH for 3DPW's detections
GENDERS = {"m": "male", "f": "female", "male": "male", "female": "female"}
PER_PERSON_KEYS = ("poses", "betas", "trans", "poses2d", "campose_valid", "genders")
REQUIRED_KEYS = (*PER_PERSON_KEYS, "cam_poses", "img_frame_ids")


class ThreeDPWError(InputError, ValueError):
    """A 3DPW file that is not as the release ships it."""


@dataclass(frozen=True)
class ThreeDPWSequence:
    name: str
    pkl_path: Path
    images_dir: Path
    split: str


@dataclass(frozen=True)
class ThreeDPWPerson:
    gender: str  # male | female
    pose: np.ndarray  # (n, 72) world axes
    betas: np.ndarray  # (10,)
    trans: np.ndarray  # (n, 3) metres, world axes
    keypoints: np.ndarray  # (n, 18, 3) COCO-18 x_px, y_px, score
    campose_valid: np.ndarray  # (n,) bool


@dataclass(frozen=True)
class ThreeDPWAnnotations:
    frame_ids: np.ndarray  # (n,) image numbers
    cam_poses: np.ndarray  # (n, 4, 4) world -> camera
    people: list[ThreeDPWPerson]


def list_3dpw_sequences(source: Path, splits: tuple[str, ...]) -> list[ThreeDPWSequence]:
    source = Path(source)
    found = []
    for split in splits:
        folder = source / "sequenceFiles" / SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise ThreeDPWError(f"{source}: no sequenceFiles/{SPLIT_FOLDERS[split]}/ folder; expected 3DPW's layout "
                                f"(imageFiles/<seq>/image_00000.jpg, sequenceFiles/{{train,validation,test}}/<seq>.pkl)")
        found += [ThreeDPWSequence(p.stem, p, source / "imageFiles" / p.stem, split) for p in sorted(folder.glob("*.pkl"))]
    return found


def _per_person(data: dict, key: str, n_people: int, path: Path) -> list:
    value = data[key]
    if not isinstance(value, (list, tuple)) or len(value) != n_people:
        raise ThreeDPWError(f"{path}: {key!r} should be a list with one entry per person ({n_people}), "
                            f"found {type(value).__name__} of length {len(value) if hasattr(value, '__len__') else '?'}")
    return list(value)


def read_3dpw_sequence(path: Path) -> ThreeDPWAnnotations:
    """One sequence file, checked against the release's keys and shapes."""
    data = load_py2_pickle(path)
    if not isinstance(data, dict):
        raise ThreeDPWError(f"{path}: expected a dict, found {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ThreeDPWError(f"{path}: missing {missing}; a 3DPW sequence file has {list(REQUIRED_KEYS)} among its keys "
                            f"(found {sorted(data)})")
    frame_ids = np.asarray(data["img_frame_ids"]).astype(np.int64).ravel()
    n = len(frame_ids)
    cam_poses = np.asarray(data["cam_poses"], dtype=np.float64)
    if cam_poses.shape != (n, 4, 4):
        raise ThreeDPWError(f"{path}: cam_poses has shape {cam_poses.shape}, expected ({n}, 4, 4)")
    n_people = len(data["poses"])
    fields = {k: _per_person(data, k, n_people, path) for k in PER_PERSON_KEYS}
    people = []
    for p in range(n_people):
        arrays = {"pose": np.asarray(fields["poses"][p], np.float64), "trans": np.asarray(fields["trans"][p], np.float64),
                  "poses2d": np.asarray(fields["poses2d"][p], np.float64),
                  "campose_valid": np.asarray(fields["campose_valid"][p]).ravel()}
        expected = {"pose": (n, 72), "trans": (n, 3), "poses2d": (n, 3, 18), "campose_valid": (n,)}
        for name, shape in expected.items():
            if arrays[name].shape != shape:
                raise ThreeDPWError(f"{path}: person {p}'s {name} has shape {arrays[name].shape}, expected {shape}")
        betas = np.asarray(fields["betas"][p], np.float64).ravel()
        if len(betas) < 10:
            raise ThreeDPWError(f"{path}: person {p}'s betas has {len(betas)} values, expected at least 10")
        gender = GENDERS.get(str(fields["genders"][p]).lower())
        if gender is None:
            raise ThreeDPWError(f"{path}: person {p}'s gender is {fields['genders'][p]!r}, expected 'm' or 'f'")
        people.append(ThreeDPWPerson(gender=gender, pose=arrays["pose"], betas=betas[:10], trans=arrays["trans"],
                                     keypoints=arrays["poses2d"].transpose(0, 2, 1),
                                     campose_valid=arrays["campose_valid"].astype(bool)))
    return ThreeDPWAnnotations(frame_ids=frame_ids, cam_poses=cam_poses, people=people)


class GenderedBodies:
    """The male and female SMPL models, built once per worker (the import stage's context)."""

    def __init__(self, smpl_model_dir: str | None) -> None:
        self.smpl_model_dir = smpl_model_dir
        self._bodies: dict[str, Any] = {}

    def joints(self, gender: str, pose: np.ndarray, betas: np.ndarray, batch: int = 512) -> np.ndarray | None:
        """(n, 25, 3) training-layout joints (metres, the model's axes, no translation), or None without SMPL."""
        if not self.smpl_model_dir:
            return None
        import torch

        from train.body import BodyModel

        if gender not in self._bodies:
            self._bodies[gender] = BodyModel(Path(self.smpl_model_dir), gender=gender).eval()
        body = self._bodies[gender]
        out = []
        with torch.no_grad():
            for start in range(0, len(pose), batch):
                chunk = torch.as_tensor(pose[start:start + batch], dtype=torch.float32)
                shape = torch.as_tensor(np.tile(betas, (len(chunk), 1)), dtype=torch.float32)
                out.append(body(chunk, shape)[1].double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 25, 3))


def to_camera(points: np.ndarray, cam_poses: np.ndarray) -> np.ndarray:
    """(n, J, 3) world points -> camera axes, by each frame's (4, 4) world -> camera transform."""
    rotation, translation = cam_poses[:, :3, :3], cam_poses[:, :3, 3]
    return np.einsum("nij,nkj->nki", rotation, points) + translation[:, None, :]


def pose_in_camera(pose: np.ndarray, cam_poses: np.ndarray) -> np.ndarray:
    """SMPL poses (n, 72) with the global orientation turned from world into camera axes."""
    from scipy.spatial.transform import Rotation

    out = pose.copy()
    out[:, :3] = (Rotation.from_matrix(cam_poses[:, :3, :3]) * Rotation.from_rotvec(pose[:, :3])).as_rotvec()
    return out


def threedpw_person(person: ThreeDPWPerson, track_id: int, cam_poses: np.ndarray, bodies: GenderedBodies,
                    source: str) -> AnnotatedPerson:
    training, body25 = in_layouts(binary_visibility(person.keypoints, VISIBLE_SCORE), COCO_18)
    joints = bodies.joints(person.gender, person.pose, person.betas)
    joints_3d = None
    if joints is not None:
        joints_3d = to_camera(joints[:, :N_LSP] + person.trans[:, None, :], cam_poses)
        joints_3d[~person.campose_valid] = np.nan
    return AnnotatedPerson(track_id=track_id, training_keypoints=training, body25_keypoints=body25,
                           joints_3d=None if joints_3d is None else joints_3d.astype(np.float32),
                           pose=pose_in_camera(person.pose, cam_poses).astype(np.float32),
                           shape=person.betas.astype(np.float32), source=f"{source} person {track_id} ({person.gender} SMPL)")


@dataclass(frozen=True)
class ThreeDPWPayload(UnitPayload):
    """One sequence to import (unit_id: its video id): the dataset and split it joins, its name, its
    sequence pickle and its images folder."""

    dataset: str
    split: str
    name: str
    pkl_path: str
    images_dir: str


def threedpw_unit(payload: ThreeDPWPayload, context: GenderedBodies, root: str) -> UnitResult:
    """Import one sequence: its images as a video, and a tube with 2D, 3D and SMPL targets per person."""
    video_id, pkl_path, images_dir = payload.unit_id, Path(payload.pkl_path), Path(payload.images_dir)
    annotations = read_3dpw_sequence(pkl_path)
    frames = [images_dir / f"image_{i:05d}.jpg" for i in annotations.frame_ids]
    absent = [f for f in frames if not f.is_file()]
    if absent:
        raise ThreeDPWError(f"{pkl_path.name} names {len(absent)} images that {images_dir} lacks (e.g. {absent[0].name})")
    media = remux_jpegs(frames, Path(root) / "media" / f"{video_id}.mp4", FPS)
    video = describe_media(Path(root), media, video_id, payload.dataset, payload.split, str(images_dir),
                           title=f"3DPW {payload.name}")
    source = f"3dpw sequenceFiles/{pkl_path.parent.name}/{pkl_path.name}"
    people = [threedpw_person(p, i, annotations.cam_poses, context, source) for i, p in enumerate(annotations.people)]
    tables = sequence_tables(video.row(), FPS, people, len(frames))
    return tables.unit_result(len(frames))
