"""One annotated person of a published sequence -> a `tubes` row and a `targets` row.

Every converter hands over the same record: the person's keypoints in the training layout (HMMR_25,
as the released code placed that dataset's joints) and in BODY_25 (by the joints' true names, for the
`tubes` table), and 3D joints / SMPL where the dataset has them. The tube spans the frames from the
first to the last one with a visible joint; its crop boxes come from `tracking.tubes.smooth_boxes`, the
rule our own tubes use, so the features stage crops an imported person as it crops one of ours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manifests import tube_id_of
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
from manifests.rows import TargetRows, TubeRows, VideoRows
from manifests.status import UnitResult
from tracking.tubes import TubeConfig, smooth_boxes


@dataclass(frozen=True)
class AnnotatedPerson:
    """One person through one sequence, frame 0 = the video's frame 0.

    training_keypoints: (n, 25, 3) HMMR_25 x (x_px, y_px, visibility 0/1), original pixels.
    body25_keypoints: (n, 25, 3) BODY_25 x (x_px, y_px, visibility 0/1).
    joints_3d: (n, N_LSP, 3) metres, camera axes, the training layout's first N_LSP slots; NaN rows = no
        3D for that frame; None = the dataset has no 3D.
    pose: (n, 72) SMPL axis-angle, global orientation in camera axes; None = no SMPL.
    shape: (10,) SMPL betas; None = no SMPL.
    source: the published file (and person) this came from.
    """

    track_id: int
    training_keypoints: np.ndarray
    body25_keypoints: np.ndarray
    source: str
    joints_3d: np.ndarray | None = None
    pose: np.ndarray | None = None
    shape: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.training_keypoints)
        expected = {"training_keypoints": (n, len(HMMR_25), 3), "body25_keypoints": (n, len(BODY_25), 3),
                    "joints_3d": (n, N_LSP, 3), "pose": (n, 72), "shape": (10,)}
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and np.shape(value) != shape:
                raise ValueError(f"{self.source}: {name} has shape {np.shape(value)}, expected {shape}")


def in_layouts(keypoints: np.ndarray, names: tuple[str, ...],
               training_names: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's (n, J, 3) keypoints in the training layout and in BODY_25, by joint name.

    names: the joints' true names, for BODY_25. training_names: the HMMR_25 slot each joint fills when
    it differs from its name (Human3.6M's ankles fill the heel slots, as the released code placed them).
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    training = convert_joints(keypoints, training_names or names, HMMR_25)
    return training, convert_joints(keypoints, names, BODY_25)


def binary_visibility(keypoints: np.ndarray, threshold: float) -> np.ndarray:
    """(x, y, score) -> (x, y, 1 where score > threshold else 0); coordinates of unseen joints zeroed."""
    out = np.array(keypoints, dtype=np.float32, copy=True)
    seen = np.isfinite(out[..., :2]).all(-1) & (np.nan_to_num(out[..., 2]) > threshold)
    out[..., 2] = seen
    out[~seen, :2] = 0.0
    return out


def annotated_span(training_keypoints: np.ndarray) -> tuple[int, int] | None:
    """[first, last + 1) of the frames with a visible joint, or None when none has one."""
    seen = np.flatnonzero((training_keypoints[..., 2] > 0).any(-1))
    return (int(seen[0]), int(seen[-1]) + 1) if len(seen) else None


def person_rows(video_id: str, dataset: str, split: str, fps: float, person: AnnotatedPerson,
                n_video_frames: int, config: TubeConfig = TubeConfig()) -> tuple[dict, dict] | None:
    """(`tubes` row, `targets` row) of one person, or None when no frame shows a joint.

    n_video_frames: frames the media file has at `fps`; the tube never reaches past them.
    """
    span = annotated_span(person.training_keypoints[:n_video_frames])
    if span is None:
        return None
    start, end = span
    window = slice(start, end)
    training = person.training_keypoints[window]
    body25 = person.body25_keypoints[window]
    # The crop box follows every annotated joint (head top too, which BODY_25 lacks).
    bbox = smooth_boxes(training, config)
    seen = body25[..., 2] > 0
    tube_id = tube_id_of(video_id, person.track_id, start)
    tube = {"tube_id": tube_id, "video_id": video_id, "dataset": dataset, "split": split,
            "track_id": person.track_id, "shot": 0, "start_frame": start, "end_frame": end, "n_frames": end - start,
            "fps": fps, "keypoints": body25.reshape(end - start, -1), "bbox": bbox,
            "mean_confidence": 1.0 if seen.any() else 0.0, "mean_visible_joints": float(seen.sum(-1).mean())}
    target = {"tube_id": tube_id, "video_id": video_id, "keypoints": training.reshape(end - start, -1),
              "joints_3d": None if person.joints_3d is None else person.joints_3d[window].reshape(end - start, -1),
              "pose": None if person.pose is None else person.pose[window],
              "shape": person.shape, "source": person.source}
    return tube, target


def sequence_tables(video_row: dict, fps: float, people: list[AnnotatedPerson], n_video_frames: int) -> SequenceRows:
    """The `videos`, `tubes` and `targets` rows of one imported sequence (a unit of the import stage)."""
    video_id, dataset, split = video_row["video_id"][0], video_row["dataset"][0], video_row["split"][0]
    rows = [r for p in people if (r := person_rows(video_id, dataset, split, fps, p, n_video_frames)) is not None]
    tubes = {key: [tube[key] for tube, _ in rows] for key in (rows[0][0] if rows else _TUBE_COLUMNS)}
    targets = {key: [target[key] for _, target in rows] for key in (rows[0][1] if rows else _TARGET_COLUMNS)}
    return SequenceRows(VideoRows(**video_row), TubeRows(**tubes), TargetRows(**targets))


@dataclass(frozen=True)
class SequenceRows:
    """One imported sequence's rows of `videos`, `tubes` and `targets`."""

    video: VideoRows
    tubes: TubeRows
    targets: TargetRows

    def unit_result(self, frames: int) -> UnitResult:
        return UnitResult(rows=(self.video, self.tubes, self.targets),
                          counters={"frames": float(frames), "tubes": float(self.tubes.n_rows)})


_TUBE_COLUMNS = ("tube_id", "video_id", "dataset", "split", "track_id", "shot", "start_frame", "end_frame", "n_frames",
                 "fps", "keypoints", "bbox", "mean_confidence", "mean_visible_joints")
_TARGET_COLUMNS = ("tube_id", "video_id", "keypoints", "joints_3d", "pose", "shape", "source")
