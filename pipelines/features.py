"""Features wiring: a GPU stage over every tube that has no features at this extractor version."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import FEATURES, TUBES, VIDEOS, DatasetRoot, read_table
from pipelines.runner import RunnerConfig, RunStats, Stage, run_stage
from train.features import FeatureConfig, FeatureExtractor, features_unit


def features_stage(config: FeatureConfig) -> Stage:
    return Stage(name="features", version=config.version(), outputs=(FEATURES,), work=features_unit,
                 resources={"GPU": 1}, make_context=partial(FeatureExtractor, config), config=config)


def extract_features(client: Client, root: DatasetRoot, config: FeatureConfig, runner: RunnerConfig) -> RunStats:
    tubes = read_table(root, TUBES, columns=["tube_id", "video_id", "start_frame", "fps", "bbox"])
    videos = read_table(root, VIDEOS, columns=["video_id", "media_path"])
    units = tubes.merge(videos, on="video_id")
    units = pd.DataFrame({"unit_id": units["tube_id"], "video_id": units["video_id"],
                          "media_path": [str(root.path / p) for p in units["media_path"]],
                          "start_frame": units["start_frame"], "fps": units["fps"], "bbox": units["bbox"]})
    return run_stage(client, root, features_stage(config), units, runner)
