"""Training windows from the manifests: tubes (2D keypoints, crop boxes) joined with their features.

Everything per frame is converted once, vectorised, when sequences are loaded; a window is then a
slice of arrays (no Python loop per frame in the loader's hot path).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from manifests import FEATURES, TUBES, DatasetRoot, read_table
from manifests.joints import BODY_25, HMMR_25, N_BODY_25, convert_joints
from train.augment import mirror_keypoints
from train.losses import Batch

CROP_HALF_PX = 112.0  # a 224 crop; keypoints become (pixel in crop / 112) - 1, i.e. [-1, 1]


class DataError(ValueError):
    """The manifests do not hold what training was asked to use."""


@dataclass
class Sequence:
    """One tube, in every view the features stage made (view 0: its own crop boxes; others: jittered)."""

    tube_id: str
    dataset: str
    features: np.ndarray  # (views, n, F) float32
    keypoints: np.ndarray  # (views, n, 25, 2) float32, HMMR_25 order, crop units of each view's boxes
    visibility: np.ndarray  # (views, n, 25) float32 (a mirrored view has its joints' sides swapped)

    @property
    def n_frames(self) -> int:
        return self.features.shape[1]


def to_crop_units(keypoints_px: np.ndarray, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BODY_25 pixels (n, 25, 3) and crop boxes (..., n, 3) -> HMMR_25 crop coordinates (..., n, 25, 2) and
    visibility (n, 25)."""
    hmmr = convert_joints(keypoints_px, BODY_25, HMMR_25)
    centre, scale = bbox[..., :, None, :2], bbox[..., :, None, 2:3]
    coordinates = (hmmr[..., :2] - centre) * scale / CROP_HALF_PX
    return coordinates.astype(np.float32), hmmr[..., 2].astype(np.float32)


def load_sequences(root: DatasetRoot, datasets: tuple[str, ...], split: str, min_frames: int) -> list[Sequence]:
    """The tubes of `datasets` in `split` that have features, at least `min_frames` long."""
    tubes = read_table(root, TUBES, columns=["tube_id", "video_id", "dataset", "split", "n_frames", "keypoints"])
    available = sorted(tubes["dataset"].unique())
    unknown = [d for d in datasets if d not in available]
    if unknown:
        raise DataError(f"no tubes for datasets {unknown} in {root.path}; datasets with tubes: {available or 'none'}")
    tubes = tubes[tubes["dataset"].isin(datasets) & (tubes["split"] == split) & (tubes["n_frames"] >= min_frames)]
    features = read_table(root, FEATURES, columns=["tube_id", "view", "bbox", "flipped", "features"],
                          units=list(pd.unique(tubes["video_id"])))
    missing = sorted(set(tubes["tube_id"]) - set(features.loc[features["view"] == 0, "tube_id"]))
    if missing:
        raise DataError(f"{len(missing)} {split} tubes have no features yet (e.g. {missing[0]}); "
                        f"run `hmmr-train features --root {root.path}` first")
    views_of = {tube_id: group.sort_values("view") for tube_id, group in features.groupby("tube_id", sort=False)}
    sequences = []
    for row in tubes.itertuples(index=False):
        views = views_of[row.tube_id]
        if len(views["bbox"].iloc[0]) != row.n_frames:
            raise DataError(f"tube {row.tube_id} has {row.n_frames} frames but its features {len(views['bbox'].iloc[0])}: "
                            f"its video was tracked again since; run `hmmr-train features --root {root.path}`")
        boxes = np.stack([np.stack(b) for b in views["bbox"]])  # (views, n, 3)
        coordinates, visibility = to_crop_units(np.stack(row.keypoints).reshape(-1, N_BODY_25, 3), boxes)
        visibility = np.repeat(visibility[None], len(boxes), axis=0)
        for view, flipped in enumerate(views["flipped"]):
            if pd.notna(flipped) and flipped:  # the backbone saw a mirrored crop: mirror the targets too
                coordinates[view], visibility[view] = mirror_keypoints(coordinates[view], visibility[view])
        vectors = np.stack([np.stack(f) for f in views["features"]]).astype(np.float32)
        sequences.append(Sequence(row.tube_id, row.dataset, vectors, coordinates, visibility))
    return sequences


class WindowSampler:
    """Windows of `length` frames, drawn so each dataset gets its share (`mix`), reproducibly per step.
    augment: each window comes from a random view of its tube (scale/shift jitter); otherwise view 0."""

    def __init__(self, sequences: list[Sequence], length: int, mix: dict[str, float] | None = None,
                 augment: bool = False) -> None:
        if not sequences:
            raise DataError("no sequences to sample windows from")
        self.sequences, self.length, self.augment = sequences, length, augment
        by_dataset = pd.Series([s.dataset for s in sequences])
        weights = np.array([(mix or {}).get(d, 1.0) for d in by_dataset], dtype=np.float64)
        weights /= by_dataset.map(by_dataset.value_counts()).to_numpy()  # a dataset's share, not its tube count
        self.probabilities = weights / weights.sum()

    def batch(self, batch_size: int, seed: int) -> Batch:
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(self.sequences), size=batch_size, p=self.probabilities)
        features, keypoints, visibility = [], [], []
        for i in picks:
            sequence = self.sequences[i]
            start = int(rng.integers(0, sequence.n_frames - self.length + 1))
            view = int(rng.integers(0, len(sequence.features))) if self.augment else 0
            window = slice(start, start + self.length)
            features.append(sequence.features[view, window])
            keypoints.append(sequence.keypoints[view, window])
            visibility.append(sequence.visibility[view, window])
        return Batch(features=torch.from_numpy(np.stack(features)), keypoints=torch.from_numpy(np.stack(keypoints)),
                     visibility=torch.from_numpy(np.stack(visibility)))
