"""Per-frame SMPL parameters from a trained checkpoint, and past/present/future per frame: for a tube
of a dataset root, or straight from a video file (pose, tracks, tubes and features made in this process)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from manifests import FEATURES, DatasetRoot, read_table, video_id_of_tube
from pseudolabel.work import PoseStageConfig, pose_video
from tracking.tubes import Tube
from tracking.work import TrackingConfig, tubes_from_detections
from train.features import FeatureConfig, FeatureExtractor, TubeBoxes, video_features
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


@dataclass(frozen=True)
class VideoPredictConfig:
    """How a raw video becomes tubes and features: the same settings the pipeline's stages take."""

    pose: PoseStageConfig = field(default_factory=PoseStageConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)


def video_tubes(video: Path, config: VideoPredictConfig) -> tuple[list[Tube], float]:
    """The tubes of one video file, and the frame rate their frame indices refer to."""
    result = pose_video({"unit_id": video.stem, "media_path": str(video)}, config.pose.backend.build(), config.pose)
    detections, shots = result.tables["detections"], result.tables["shots"]
    frames = np.asarray(detections["frame"], dtype=np.int64)
    keypoints = np.asarray(detections["keypoints"], dtype=np.float32).reshape(-1, 25, 3)
    _, tubes, _ = tubes_from_detections(frames, keypoints, np.sort(np.asarray(shots["start_frame"])), config.tracking)
    return tubes, float(shots["fps"][0]) if len(shots["fps"]) else 0.0


def predict_video(model: HMMR, video: Path, config: VideoPredictConfig) -> list[tuple[Tube, dict[str, np.ndarray]]]:
    """Every tube of a video file with its predictions (as `predict_tube`), the video decoded twice: once
    for pose, once for the crops of all its tubes."""
    tubes, fps = video_tubes(video, config)
    if not tubes:
        return []
    features = video_features(str(video), fps, [TubeBoxes(t.start_frame, t.bbox[None]) for t in tubes],
                              FeatureExtractor(config.features))
    return [(tube, predict_tube(model, vectors[0])) for tube, vectors in zip(tubes, features)]
