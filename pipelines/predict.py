"""A video file to per-tube predictions in this process: pose, tracks, tubes and features made as the
pipeline's stages make them, then the trained model on each tube (hmmr-predict VIDEO)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pseudolabel.work import PoseStageConfig, pose_video
from tracking.tubes import Tube
from tracking.work import TrackingConfig, tubes_from_detections
from train.features import FeatureConfig, FeatureExtractor, TubeBoxes, video_features
from train.model import HMMR
from train.predict import predict_tube


@dataclass(frozen=True)
class VideoPredictConfig:
    """How a raw video becomes tubes and features: the same settings the pipeline's stages take."""

    pose: PoseStageConfig = field(default_factory=PoseStageConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)


def video_tubes(video: Path, config: VideoPredictConfig) -> tuple[list[Tube], float]:
    """The tubes of one video file, and the frame rate their frame indices refer to."""
    pose = pose_video(video, config.pose.backend.build(), config.pose)
    _, tubes, _ = tubes_from_detections(pose.frames, pose.keypoints, pose.shot_starts, config.tracking, pose.width,
                                        pose.height)
    return tubes, pose.fps if pose.shots else 0.0


def predict_video(model: HMMR, video: Path, config: VideoPredictConfig) -> list[tuple[Tube, dict[str, np.ndarray]]]:
    """Every tube of a video file with its predictions (as `predict_tube`), the video decoded twice: once
    for pose, once for the crops of all its tubes."""
    tubes, fps = video_tubes(video, config)
    if not tubes:
        return []
    features = video_features(str(video), fps, [TubeBoxes(t.start_frame, t.bbox[None]) for t in tubes],
                              FeatureExtractor(config.features))
    return [(tube, predict_tube(model, vectors[0])) for tube, vectors in zip(tubes, features)]
