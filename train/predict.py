"""Per-frame SMPL parameters from a trained checkpoint, and past/present/future per frame, from a tube's
features (of a dataset root, or made from a video file by pipelines.predict)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from manifests import FEATURES, DatasetRoot, read_table, video_id_of_tube
from train.model import HMMR
from train.params import camera_of, pose_of, shape_of


@torch.no_grad()
def predict_tube(model: HMMR, features: np.ndarray) -> dict[str, np.ndarray]:
    """features (n, 2048) -> arrays over the n frames:
    camera (n, 3), pose (n, 72), shape (n, 10) from the temporal encoder (the whole tube as context);
    single_frame_{past,present,future}_pose (n, 72) from each frame alone, through the hallucinator."""
    x = torch.from_numpy(features.astype(np.float32))
    movie = model(x[None]).movie
    single = model.predict_single_frame(x)
    theta = movie.theta[0]
    return {
        "camera": camera_of(theta).numpy(), "pose": pose_of(theta).numpy(), "shape": shape_of(theta).numpy(),
        "single_frame_past_pose": single.past_pose[:, 0].numpy(),
        "single_frame_present_pose": pose_of(single.theta[:, 0]).numpy(),
        "single_frame_future_pose": single.future_pose[:, 0].numpy(),
    }


def tube_features(root: DatasetRoot, tube_id: str) -> np.ndarray:
    table = read_table(root, FEATURES, columns=["tube_id", "view", "features"], units=[video_id_of_tube(tube_id)])
    table = table[(table["tube_id"] == tube_id) & (table["view"] == 0)]
    if table.empty:
        raise KeyError(f"no features for tube {tube_id!r} in {root.path}; run `hmmr-train features` first")
    return np.stack(table.iloc[0]["features"]).astype(np.float32)
