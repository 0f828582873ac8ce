"""Training windows from the manifests: tubes (2D keypoints, crop boxes) joined with their features,
and, for imported tubes, their `targets` rows (training-layout 2D keypoints, 3D joints, SMPL).

Everything per frame is converted once, vectorised, when sequences are loaded; a window is then a
slice of arrays (no Python loop per frame in the loader's hot path). Which sequences a batch draws
(`train.mixing`) and how a flipped view's targets are mirrored (`train.augment.mirror_windows`) are
batch-level rules of their own, so any loader applies them the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from manifests import FEATURES, TARGETS, TUBES, DatasetRoot, read_table
from manifests.errors import InputError
from manifests.joints import BODY_25, HMMR_25, N_BODY_25, N_LSP, convert_joints
from train.augment import mirror_windows
from train.losses import Batch
from train.mixing import MixConfig, split_balanced_picks
from train.params import N_POSE, N_SHAPE

CROP_HALF_PX = 112.0  # a 224 crop; keypoints become (pixel in crop / 112) - 1, i.e. [-1, 1]


class DataError(InputError, ValueError):
    """The manifests do not hold what training was asked to use."""


@dataclass
class Sequence:
    """One tube, in every view the features stage made (view 0: its own crop boxes; others: jittered,
    some mirrored). Targets are as annotated; a window from a flipped view is mirrored when batched.
    joints_3d / pose / shape: the 3D supervision of an imported tube (None where it has none)."""

    tube_id: str
    dataset: str
    features: np.ndarray  # (views, n, F) float32
    keypoints: np.ndarray  # (views, n, 25, 2) float32, HMMR_25 order, crop units of each view's boxes
    visibility: np.ndarray  # (n, 25) float32
    flipped: np.ndarray  # (views,) bool: that view's crops were mirrored before the backbone
    joints_3d: np.ndarray | None = None  # (n, N_LSP, 3) metres, NaN frames = no 3D there
    pose: np.ndarray | None = None  # (n, 72)
    shape: np.ndarray | None = None  # (10,)

    @property
    def n_frames(self) -> int:
        return self.features.shape[1]

    @property
    def supervised_3d(self) -> bool:
        """Counts for the 3D half of split-balanced batches (the released code: 3D joints or SMPL)."""
        return self.joints_3d is not None or self.pose is not None


def to_crop_units(keypoints_px: np.ndarray, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BODY_25 pixels (n, 25, 3) and crop boxes (..., n, 3) -> HMMR_25 crop coordinates (..., n, 25, 2) and
    visibility (n, 25)."""
    return hmmr_to_crop_units(convert_joints(keypoints_px, BODY_25, HMMR_25), bbox)


def hmmr_to_crop_units(hmmr: np.ndarray, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HMMR_25 pixels with visibility (n, 25, 3) and crop boxes (..., n, 3) -> crop coordinates
    (..., n, 25, 2) and visibility (n, 25)."""
    centre, scale = bbox[..., :, None, :2], bbox[..., :, None, 2:3]
    coordinates = (hmmr[..., :2] - centre) * scale / CROP_HALF_PX
    return coordinates.astype(np.float32), hmmr[..., 2].astype(np.float32)


def _targets_of(root: DatasetRoot, videos: list[str]) -> dict[str, tuple]:
    """tube_id -> its targets row (keypoints, joints_3d, pose, shape), for the tubes that have one."""
    table = read_table(root, TARGETS, columns=["tube_id", "keypoints", "joints_3d", "pose", "shape"], units=videos)
    return {row.tube_id: row[1:] for row in table.itertuples(index=False)}


def _frames(column, width: int) -> np.ndarray | None:
    return None if column is None else np.stack(column).astype(np.float32).reshape(len(column), *width)


def load_sequences(root: DatasetRoot, datasets: tuple[str, ...], split: str, min_frames: int) -> list[Sequence]:
    """The tubes of `datasets` in `split` that have features, at least `min_frames` long."""
    tubes = read_table(root, TUBES, columns=["tube_id", "video_id", "dataset", "split", "n_frames", "keypoints"])
    available = sorted(tubes["dataset"].unique())
    unknown = [d for d in datasets if d not in available]
    if unknown:
        raise DataError(f"no tubes for datasets {unknown} in {root.path}; datasets with tubes: {available or 'none'}")
    tubes = tubes[tubes["dataset"].isin(datasets) & (tubes["split"] == split) & (tubes["n_frames"] >= min_frames)]
    videos = list(pd.unique(tubes["video_id"]))
    features = read_table(root, FEATURES, columns=["tube_id", "view", "bbox", "flipped", "features"], units=videos)
    missing = sorted(set(tubes["tube_id"]) - set(features.loc[features["view"] == 0, "tube_id"]))
    if missing:
        raise DataError(f"{len(missing)} {split} tubes have no features yet (e.g. {missing[0]}); "
                        f"run `hmmr-train features --root {root.path}` first")
    targets = _targets_of(root, videos)
    views_of = {tube_id: group.sort_values("view") for tube_id, group in features.groupby("tube_id", sort=False)}
    sequences = []
    for row in tubes.itertuples(index=False):
        views = views_of[row.tube_id]
        if len(views["bbox"].iloc[0]) != row.n_frames:
            raise DataError(f"tube {row.tube_id} has {row.n_frames} frames but its features {len(views['bbox'].iloc[0])}: "
                            f"its video was tracked again since; run `hmmr-train features --root {root.path}`")
        boxes = np.stack([np.stack(b) for b in views["bbox"]])  # (views, n, 3)
        target = targets.get(row.tube_id)
        if target is None:  # our own tubes: BODY_25 detections, their confidences as visibility
            coordinates, visibility = to_crop_units(np.stack(row.keypoints).reshape(-1, N_BODY_25, 3), boxes)
            joints_3d = pose = shape = None
        else:  # imported: the training layout with binary visibility, and the 3D the dataset has
            keypoints, joints_3d, pose, shape = target
            coordinates, visibility = hmmr_to_crop_units(_frames(keypoints, (len(HMMR_25), 3)), boxes)
            joints_3d, pose = _frames(joints_3d, (N_LSP, 3)), _frames(pose, (N_POSE,))
            shape = None if shape is None else np.asarray(shape, np.float32)
        flipped = np.array([pd.notna(f) and bool(f) for f in views["flipped"]])
        vectors = np.stack([np.stack(f) for f in views["features"]]).astype(np.float32)
        sequences.append(Sequence(row.tube_id, row.dataset, vectors, coordinates, visibility, flipped,
                                  joints_3d, pose, shape))
    return sequences


class WindowSampler:
    """Windows of `length` frames, drawn as the released code's split-balanced batches (`mix`: each
    batch's 3D share and dataset weights, see train.mixing), reproducibly per step. augment: each
    window comes from a random view of its tube (jittered, perhaps mirrored); otherwise view 0."""

    def __init__(self, sequences: list[Sequence], length: int, mix: MixConfig = MixConfig(),
                 augment: bool = False) -> None:
        if not sequences:
            raise DataError("no sequences to sample windows from")
        self.sequences, self.length, self.mix, self.augment = sequences, length, mix, augment
        self.datasets = [s.dataset for s in sequences]
        self.supervised_3d = np.array([s.supervised_3d for s in sequences])

    def batch(self, batch_size: int, seed: int) -> Batch:
        rng = np.random.default_rng(seed)
        picks = split_balanced_picks(rng, batch_size, self.datasets, self.supervised_3d, self.mix)
        n = len(picks)
        features = np.zeros((n, self.length, self.sequences[0].features.shape[-1]), np.float32)
        keypoints = np.zeros((n, self.length, len(HMMR_25), 2), np.float32)
        visibility = np.zeros((n, self.length, len(HMMR_25)), np.float32)
        joints_3d = np.full((n, self.length, N_LSP, 3), np.nan, np.float32)
        pose = np.full((n, self.length, N_POSE), np.nan, np.float32)
        shape = np.full((n, self.length, N_SHAPE), np.nan, np.float32)
        flipped = np.zeros(n, bool)
        for k, i in enumerate(picks):
            sequence = self.sequences[i]
            start = int(rng.integers(0, sequence.n_frames - self.length + 1))
            view = int(rng.integers(0, len(sequence.features))) if self.augment else 0
            window = slice(start, start + self.length)
            features[k], keypoints[k], visibility[k] = (sequence.features[view, window],
                                                        sequence.keypoints[view, window], sequence.visibility[window])
            flipped[k] = sequence.flipped[view]
            if sequence.joints_3d is not None:
                joints_3d[k] = sequence.joints_3d[window]
            if sequence.pose is not None and sequence.shape is not None:
                pose[k], shape[k] = sequence.pose[window], sequence.shape
        batch = Batch(features=torch.from_numpy(features), keypoints=torch.from_numpy(keypoints),
                      visibility=torch.from_numpy(visibility))
        if self.supervised_3d.any():  # NaN marks what a window lacks (see train.losses.frame_flags)
            has_3d = np.isfinite(joints_3d).all((2, 3)).any(1)
            has_smpl = np.isfinite(pose).all(2).any(1)
            batch = Batch(**{**vars(batch), "joints_3d": torch.from_numpy(joints_3d), "pose": torch.from_numpy(pose),
                             "shape": torch.from_numpy(shape), "has_3d": torch.from_numpy(has_3d.astype(np.float32)),
                             "has_smpl": torch.from_numpy(has_smpl.astype(np.float32))})
        return mirror_windows(batch, flipped)
