"""The authors' OpenPose tracks (InstaVariety_tracks), read into BODY_25 arrays per track.

Layout (doc/insta_variety.md): <root>/<download_tag>/<video_name>/<track>/<frame>.json, one JSON per
frame of a track:
    {"frame": 0-based frame number, "imloc": image name (1-based, as ffmpeg extracted it),
     "track_id": not unique (their tracks were split at shot cuts: the <track> folder is the unique id),
     "bbox": {"xmin", "ymin", "xmax", "ymax"},
     "<joint name>": {"x": px, "y": px, "logits": OpenPose's score, "probability": null}, ...}
Joint names are OpenPose's, spelt 'R Knee', 'L Big Toe', 'Hip' (the mid hip), ...; they are mapped to
BODY_25 by name, and the score becomes the confidence (HMMR counts a joint visible at >= 0.1).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manifests.joints import BODY_25, N_BODY_25
from manifests.errors import InputError

NOT_JOINTS = frozenset({"frame", "imloc", "track_id", "bbox", "image_id", "score", "category_id"})
_SIDED = re.compile(r"^(right|left|r|l) ?(.+)$")  # 'R Knee', 'RKnee', 'right knee'
_UNSIDED = {"hip": "mid_hip", "midhip": "mid_hip", "pelvis": "mid_hip", "nose": "nose", "neck": "neck"}
_PARTS = {"bigtoe": "big_toe", "smalltoe": "small_toe"}
IGNORED_JOINTS = frozenset({"head", "headtop"})  # the authors' layout has a head slot OpenPose never fills


class TracksError(InputError, ValueError):
    """A tracks folder or JSON file that does not follow the authors' format."""


def body25_name(name: str) -> str | None:
    """Our BODY_25 name for one of the authors' joint names ('R Big Toe' -> 'right_big_toe', their 'Hip' ->
    'mid_hip'), None for a joint BODY_25 does not have (their 'Head')."""
    words = re.sub(r"[\s_]+", " ", name.strip()).lower()
    compact = words.replace(" ", "")
    if compact in _UNSIDED:
        return _UNSIDED[compact]
    if compact in IGNORED_JOINTS:
        return None
    sided = _SIDED.match(words)
    if sided:
        part = sided.group(2).replace(" ", "")
        ours = f"{'right' if sided.group(1).startswith('r') else 'left'}_{_PARTS.get(part, part)}"
        if ours in BODY_25:
            return ours
    raise TracksError(f"joint name {name!r} is not an OpenPose BODY_25 joint (known: {list(BODY_25)})")


@dataclass(frozen=True)
class AuthorsTrack:
    """One track folder: track_id (the folder's number), frames (n,) int64, keypoints (n, 25, 3) float32 in
    BODY_25 order, (x_px, y_px, score) in the frames' pixels."""

    track_id: int
    folder: str
    frames: np.ndarray
    keypoints: np.ndarray


def track_videos(tracks_root: Path) -> dict[str, Path]:
    """{'download_tag/video_name': folder} of every video folder under an InstaVariety_tracks root."""
    tracks_root = Path(tracks_root)
    if not tracks_root.is_dir():
        raise TracksError(f"{tracks_root}: not a folder; give the InstaVariety_tracks folder "
                          f"(<tag>/<video>/<track>/*.json)")
    return {f"{tag.name}/{video.name}": video for tag in sorted(tracks_root.iterdir()) if tag.is_dir()
            for video in sorted(tag.iterdir()) if video.is_dir()}


def _frame_record(path: Path) -> tuple[int, np.ndarray]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise TracksError(f"{path}: not a readable JSON file ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("frame"), int):
        raise TracksError(f"{path}: expected an object with an integer 'frame' and OpenPose joints by name")
    keypoints = np.zeros((N_BODY_25, 3), np.float32)
    for name, joint in data.items():
        if name in NOT_JOINTS or not isinstance(joint, dict):
            continue
        try:
            ours = body25_name(name)
            if ours is None:
                continue
            keypoints[BODY_25.index(ours)] = (float(joint["x"]), float(joint["y"]), float(joint["logits"]))
        except (KeyError, TypeError, ValueError) as e:
            raise TracksError(f"{path}: joint {name!r}: expected x, y and logits numbers ({e})") from e
    return data["frame"], keypoints


def _track_number(folder: Path, index: int, names: list[str]) -> int:
    """The folder's name when every folder of the video is a number (their ids kept), else its rank."""
    return int(folder.name) if all(name.isdigit() for name in names) else index


def read_video_tracks(video_dir: Path) -> list[AuthorsTrack]:
    """Every track of one video folder, frames sorted. Raises TracksError naming the file at fault."""
    video_dir = Path(video_dir)
    folders = sorted((f for f in video_dir.iterdir() if f.is_dir()),
                     key=lambda f: (not f.name.isdigit(), int(f.name) if f.name.isdigit() else 0, f.name))
    names = [f.name for f in folders]
    tracks = []
    for index, folder in enumerate(folders):
        records = [_frame_record(path) for path in sorted(folder.glob("*.json"))]
        if not records:
            continue
        frames = np.array([frame for frame, _ in records], np.int64)
        if len(np.unique(frames)) != len(frames):
            repeated = int(frames[np.flatnonzero(np.bincount(frames - frames.min()) > 1)[0] + frames.min()])
            raise TracksError(f"{folder}: frame {repeated} appears in more than one JSON file of this track")
        order = np.argsort(frames)
        tracks.append(AuthorsTrack(track_id=_track_number(folder, index, names), folder=folder.name,
                                   frames=frames[order], keypoints=np.stack([k for _, k in records])[order]))
    return tracks
