"""Tracking wiring: a CPU stage over every video whose pose is done."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import TRACKS, TUBES, DatasetRoot, live_flushes
from pipelines.runner import RunnerConfig, RunStats, Stage, run_stage
from tracking.work import TrackingConfig, track_video


def tracking_stage(root: DatasetRoot, config: TrackingConfig, pose_version: str) -> Stage:
    # The pose version is part of ours: new detections (another backend, another --fps) make every
    # video due for tracking again, while unchanged ones stay done.
    return Stage(name="tracking", version=f"{config.version()}|pose={pose_version}", outputs=(TRACKS, TUBES),
                 work=partial(track_video, config=config, root=str(root.path)), config=config)


def track(client: Client, root: DatasetRoot, runner: RunnerConfig, videos: pd.DataFrame, pose_version: str,
          config: TrackingConfig = TrackingConfig()) -> RunStats:
    """Track the videos (unit_id, dataset, split) whose pose stage has committed rows."""
    posed = live_flushes(root, "pose")
    units = videos[videos["unit_id"].isin(posed.index)]
    return run_stage(client, root, tracking_stage(root, config, pose_version),
                     units[["unit_id", "dataset", "split"]], runner)
