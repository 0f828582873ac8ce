"""Whole tubes for evaluation, read from the manifests: view-0 features, the crop boxes they saw, the 2D
truth in the training layout and, where the dataset has it, the 3D truth.

Evaluation runs on whole sequences (not training windows), so it reads the tables directly; the
training store (`train/data.py` and its successor) is not involved.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from manifests import FEATURES, TARGETS, TUBES, DatasetRoot, read_table
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints

VISIBLE_CONFIDENCE = 0.1  # a BODY_25 detection counts as visible above this (the released code's OpenPose rule)


class EvalDataError(ValueError):
    """The manifests do not hold what evaluation was asked to use."""


@dataclass(frozen=True)
class EvalSequence:
    """One tube. features (n, F) float16; bbox (n, 3) the view-0 crop boxes (center_x_px, center_y_px,
    scale); keypoints (n, 25, 3) HMMR_25 x (x_px, y_px, visibility 0/1) in original pixels; joints_3d
    (n, N_LSP, 3) metres with NaN rows where a frame has no 3D, or None."""

    tube_id: str
    video_id: str
    dataset: str
    features: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    joints_3d: np.ndarray | None

    @property
    def n_frames(self) -> int:
        return len(self.features)

    def keypoints_in_crop(self, crop_px: int = 224) -> np.ndarray:
        """(n, 25, 3): the 2D truth in pixels of the 224 crop each frame's features saw, with visibility."""
        centre, scale = self.bbox[:, None, :2], self.bbox[:, None, 2:3]
        xy = (self.keypoints[..., :2] - centre) * scale + crop_px / 2
        return np.concatenate([xy, self.keypoints[..., 2:]], axis=-1)


def training_keypoints_from_body25(keypoints: np.ndarray) -> np.ndarray:
    """BODY_25 (n, 75) detections -> HMMR_25 (n, 25, 3) with binary visibility (confidence > 0.1)."""
    hmmr = convert_joints(np.asarray(keypoints, np.float32).reshape(-1, 25, 3), BODY_25, HMMR_25)
    hmmr[..., 2] = hmmr[..., 2] > VISIBLE_CONFIDENCE
    return hmmr


def load_eval_sequences(root: DatasetRoot, datasets: tuple[str, ...], split: str) -> list[EvalSequence]:
    """Every tube of `datasets` in `split`, with its view-0 features. Tubes with `targets` rows use those
    (imported datasets); others use their BODY_25 keypoints."""
    tubes = read_table(root, TUBES, columns=["tube_id", "video_id", "dataset", "split", "n_frames", "keypoints"])
    available = sorted(tubes["dataset"].unique())
    unknown = [d for d in datasets if d not in available]
    if unknown:
        raise EvalDataError(f"no tubes for datasets {unknown} in {root.path}; datasets with tubes: {available or 'none'} "
                            f"(hmmr-import penn|3dpw|h36m adds the published ones)")
    tubes = tubes[tubes["dataset"].isin(datasets) & (tubes["split"] == split)]
    if tubes.empty:
        raise EvalDataError(f"no {split} tubes of {list(datasets)} in {root.path}")
    videos = list(pd.unique(tubes["video_id"]))
    features = read_table(root, FEATURES, columns=["tube_id", "view", "bbox", "features"], units=videos)
    features = features[features["view"] == 0].set_index("tube_id")
    missing = sorted(set(tubes["tube_id"]) - set(features.index))
    if missing:
        raise EvalDataError(f"{len(missing)} {split} tubes have no features yet (e.g. {missing[0]}); "
                            f"run `hmmr-train features --root {root.path}` first")
    targets = read_table(root, TARGETS, columns=["tube_id", "keypoints", "joints_3d"], units=videos).set_index("tube_id")
    sequences = []
    for row in tubes.itertuples(index=False):
        boxes = np.stack(features.at[row.tube_id, "bbox"]).astype(np.float64)
        if len(boxes) != row.n_frames:
            raise EvalDataError(f"tube {row.tube_id} has {row.n_frames} frames but its features {len(boxes)}: its video "
                                f"was tracked or imported again since; run `hmmr-train features --root {root.path}`")
        joints_3d = None
        if row.tube_id in targets.index:
            keypoints = np.stack(targets.at[row.tube_id, "keypoints"]).reshape(-1, 25, 3)
            stored = targets.at[row.tube_id, "joints_3d"]
            if stored is not None:
                joints_3d = np.stack(stored).reshape(-1, N_LSP, 3).astype(np.float64)
        else:
            keypoints = training_keypoints_from_body25(np.stack(row.keypoints))
        sequences.append(EvalSequence(tube_id=row.tube_id, video_id=row.video_id, dataset=row.dataset,
                                      features=np.stack(features.at[row.tube_id, "features"]), bbox=boxes,
                                      keypoints=keypoints.astype(np.float64), joints_3d=joints_3d))
    return sequences
