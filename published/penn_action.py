"""Penn Action (Zhang et al., ICCV 2013): 2,326 clips, 13 annotated joints per frame, no 3D.

Layout (the release `Penn_Action.tar.gz`):
  frames/<seq>/000001.jpg, 000002.jpg, ...   one folder per clip, frames numbered from 1
  labels/<seq>.mat                           x, y, visibility (nframes x 13), bbox (nframes x 4), nframes,
                                             train (1 = train, -1 = test), action, pose, dimensions
Splits as the released HMMR code made them: `train` = the clips flagged train; of the others, sorted by
name, every 10th is `val` and the rest `test`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from manifests.status import UnitPayload, UnitResult
from published.media import describe_media, remux_jpegs
from published.tubes import AnnotatedPerson, binary_visibility, in_layouts, sequence_tables
from manifests.errors import InputError

# Penn Action's 13 joints in its label order, named as the released HMMR reader (read_upenn.py) reads
# them: the first of each pair is the right side. (The dataset's README lists the left side first;
# following the released code keeps Penn Action numbers comparable with its.) Penn's "head" fills LSP's
# head-top slot and its ankles the ankle slots 23/24, as the released code placed them.
PENN_ACTION_13: tuple[str, ...] = (
    "head_top", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow", "right_wrist", "left_wrist",
    "right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle",
)
DEFAULT_FPS = 30.0  # the release does not say; its clips are from 30 fps video
LABEL_KEYS = ("x", "y", "visibility", "nframes", "train")


class PennActionError(InputError, ValueError):
    """A Penn Action file that is not as the release ships it."""


@dataclass(frozen=True)
class PennLabels:
    keypoints: np.ndarray  # (nframes, 13, 3) x_px, y_px, visibility 0/1
    is_train: bool


@dataclass(frozen=True)
class PennSequence:
    name: str
    label_path: Path
    frames_dir: Path
    split: str


def read_penn_labels(path: Path) -> PennLabels:
    """One clip's labels, checked against the release's keys and shapes."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(path)
    except (OSError, ValueError, TypeError) as e:
        raise PennActionError(f"{path}: not a readable MATLAB file ({e})") from e
    missing = [k for k in LABEL_KEYS if k not in mat]
    if missing:
        raise PennActionError(f"{path}: missing {missing}; a Penn Action label file has {list(LABEL_KEYS)} "
                              f"(found {sorted(k for k in mat if not k.startswith('__'))})")
    n_frames = int(np.asarray(mat["nframes"]).ravel()[0])
    x, y, visibility = (np.asarray(mat[k], dtype=np.float64) for k in ("x", "y", "visibility"))
    for name, value in (("x", x), ("y", y), ("visibility", visibility)):
        if value.shape != (n_frames, len(PENN_ACTION_13)):
            raise PennActionError(f"{path}: {name} has shape {value.shape}, expected (nframes={n_frames}, 13)")
    keypoints = binary_visibility(np.stack([x, y, visibility], axis=-1), threshold=0.0)
    return PennLabels(keypoints=keypoints, is_train=float(np.asarray(mat["train"]).ravel()[0]) > 0)


def list_penn_sequences(source: Path) -> list[PennSequence]:
    """Every clip of a Penn Action folder with its split (reads each label file's train flag)."""
    source = Path(source)
    labels_dir, frames_dir = source / "labels", source / "frames"
    for folder in (labels_dir, frames_dir):
        if not folder.is_dir():
            raise PennActionError(f"{source}: no {folder.name}/ folder; expected Penn Action's layout "
                                  f"(frames/<seq>/000001.jpg, labels/<seq>.mat)")
    label_paths = sorted(labels_dir.glob("*.mat"))
    if not label_paths:
        raise PennActionError(f"{labels_dir}: no .mat label files")
    train_flags = [read_penn_labels(p).is_train for p in label_paths]
    held_out = [p for p, is_train in zip(label_paths, train_flags) if not is_train]
    val = {p for i, p in enumerate(held_out) if i % 10 == 0}  # the released code's val: every 10th held-out clip
    return [PennSequence(name=p.stem, label_path=p, frames_dir=frames_dir / p.stem,
                         split="train" if is_train else ("val" if p in val else "test"))
            for p, is_train in zip(label_paths, train_flags)]


@dataclass(frozen=True)
class PennPayload(UnitPayload):
    """One clip to import (unit_id: its video id): the dataset and split it joins, its name, label file and
    frames folder."""

    dataset: str
    split: str
    name: str
    label_path: str
    frames_dir: str


def penn_unit(payload: PennPayload, context: Any, root: str, fps: float) -> UnitResult:
    """Import one clip: its frames as a video under media/, one tube and its 2D targets."""
    video_id, label_path, frames_dir = payload.unit_id, Path(payload.label_path), Path(payload.frames_dir)
    labels = read_penn_labels(label_path)
    frames = sorted(frames_dir.glob("*.jpg"))
    n_labelled = len(labels.keypoints)
    if len(frames) < n_labelled:
        raise PennActionError(f"{frames_dir}: {len(frames)} frames, but {label_path.name} labels {n_labelled}")
    media = remux_jpegs(frames[:n_labelled], Path(root) / "media" / f"{video_id}.mp4", fps)
    video = describe_media(Path(root), media, video_id, payload.dataset, payload.split, str(frames_dir),
                           title=f"Penn Action {payload.name}")
    training, body25 = in_layouts(labels.keypoints, PENN_ACTION_13)
    person = AnnotatedPerson(track_id=0, training_keypoints=training, body25_keypoints=body25,
                             source=f"penn_action labels/{label_path.name}")
    tables = sequence_tables(video.row(), fps, [person], n_labelled)
    return tables.unit_result(n_labelled)
