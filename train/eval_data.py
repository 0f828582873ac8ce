"""Whole tubes for evaluation, read from the manifests: view-0 features, the crop boxes they saw, the 2D
truth in the training layout and, where the dataset has it, the 3D truth.

Evaluation runs on whole sequences (not training windows), so it reads the tables directly; the
training store (`train/data.py` and its successor) is not involved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from manifests import FEATURES, TARGETS, TUBES, DatasetRoot, read_arrow, read_table
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
from manifests.errors import InputError

VISIBLE_CONFIDENCE = 0.1  # a BODY_25 detection counts as visible above this (the released code's OpenPose rule)


class EvalDataError(InputError, ValueError):
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


def _per_row_frames(column) -> list[np.ndarray]:
    """A list<fixed_size_list<...>> Arrow column -> one (n, width) numpy array per row, without Python lists."""
    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    offsets = column.offsets.to_numpy()
    width = column.type.value_type.list_size
    values = column.values.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(column))]


def iter_eval_sequences(root: DatasetRoot, datasets: tuple[str, ...], split: str,
                        videos_per_read: int = 64) -> Iterator[EvalSequence]:
    """Every tube of `datasets` in `split`, with its view-0 features, a few videos' worth read at a time
    (a test split's features do not all fit in memory as Python objects). Tubes with `targets` rows use
    those (imported datasets); others use their BODY_25 keypoints."""
    tubes = read_table(root, TUBES, columns=["tube_id", "video_id", "dataset", "split", "n_frames"])
    available = sorted(tubes["dataset"].unique())
    unknown = [d for d in datasets if d not in available]
    if unknown:
        raise EvalDataError(f"no tubes for datasets {unknown} in {root.path}; datasets with tubes: {available or 'none'} "
                            f"(hmmr-import penn|3dpw|h36m adds the published ones)")
    tubes = tubes[tubes["dataset"].isin(datasets) & (tubes["split"] == split)]
    if tubes.empty:
        raise EvalDataError(f"no {split} tubes of {list(datasets)} in {root.path}")
    featured = read_table(root, FEATURES, columns=["tube_id", "view"], units=list(pd.unique(tubes["video_id"])))
    missing = sorted(set(tubes["tube_id"]) - set(featured.loc[featured["view"] == 0, "tube_id"]))
    if missing:
        raise EvalDataError(f"{len(missing)} {split} tubes have no features yet (e.g. {missing[0]}); "
                            f"run `hmmr-train features --root {root.path}` first")
    videos = list(pd.unique(tubes["video_id"]))
    for first in range(0, len(videos), videos_per_read):
        chunk = videos[first:first + videos_per_read]
        yield from _sequences_of(root, tubes[tubes["video_id"].isin(chunk)], chunk)


def _sequences_of(root: DatasetRoot, tubes: pd.DataFrame, videos: list[str]) -> Iterator[EvalSequence]:
    features = read_arrow(root, FEATURES, columns=["tube_id", "view", "bbox", "features"], units=videos)
    features = features.filter(pc.equal(features["view"], 0))
    rows = {tube_id: i for i, tube_id in enumerate(features["tube_id"].to_pylist())}
    vectors, boxes = _per_row_frames(features["features"]), _per_row_frames(features["bbox"])
    body25 = read_arrow(root, TUBES, columns=["tube_id", "keypoints"], units=videos)
    body25_rows = dict(zip(body25["tube_id"].to_pylist(), _per_row_frames(body25["keypoints"])))
    targets = read_arrow(root, TARGETS, columns=["tube_id", "keypoints", "joints_3d"], units=videos)
    target_rows = {tube_id: i for i, tube_id in enumerate(targets["tube_id"].to_pylist())}
    target_keypoints = _per_row_frames(targets["keypoints"])
    has_3d = targets["joints_3d"].is_valid().to_numpy(zero_copy_only=False)
    target_3d = _per_row_frames(targets["joints_3d"].fill_null(pa.scalar([], targets["joints_3d"].type)))
    for row in tubes.itertuples(index=False):
        i = rows[row.tube_id]
        if len(boxes[i]) != row.n_frames:
            raise EvalDataError(f"tube {row.tube_id} has {row.n_frames} frames but its features {len(boxes[i])}: its video "
                                f"was tracked or imported again since; run `hmmr-train features --root {root.path}`")
        joints_3d = None
        if row.tube_id in target_rows:
            t = target_rows[row.tube_id]
            keypoints = target_keypoints[t].reshape(-1, 25, 3)
            if has_3d[t]:
                joints_3d = target_3d[t].reshape(-1, N_LSP, 3).astype(np.float64)
        else:
            keypoints = training_keypoints_from_body25(body25_rows[row.tube_id])
        yield EvalSequence(tube_id=row.tube_id, video_id=row.video_id, dataset=row.dataset, features=vectors[i],
                           bbox=boxes[i].astype(np.float64), keypoints=keypoints.astype(np.float64), joints_3d=joints_3d)
