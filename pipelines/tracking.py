"""Tracking wiring: a CPU stage over every video whose pose is done."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import DETECTIONS, SHOTS, TRACKS, TUBES, DatasetRoot, live_flushes
from manifests.store import part_path
from pipelines.runner import RunnerConfig, RunStats, Stage, run_stage
from tracking.work import TrackingConfig, track_video


def tracking_stage(root: DatasetRoot, config: TrackingConfig, pose_version: str) -> Stage:
    # The pose version is part of ours: new detections (another backend, another --fps) make every
    # video due for tracking again, while unchanged ones stay done.
    return Stage(name="tracking", version=f"{config.version()}|pose={pose_version}", outputs=(TRACKS, TUBES),
                 work=partial(track_video, config=config), config=config)


def track(client: Client, root: DatasetRoot, runner: RunnerConfig, videos: pd.DataFrame, pose_version: str,
          config: TrackingConfig = TrackingConfig()) -> RunStats:
    """Track the videos (unit_id, dataset, split) whose pose stage has committed rows.

    Each unit is handed the part files that hold its live detections and shots, so a worker reads one
    part, not the pose stage's whole status table.
    """
    posed = live_flushes(root, "pose")
    units = videos[videos["unit_id"].isin(posed.index)][["unit_id", "dataset", "split"]].copy()
    flushes = posed.loc[units["unit_id"]].to_numpy()
    units["detections_part"] = [str(part_path(root, DETECTIONS, flush)) for flush in flushes]
    units["shots_part"] = [str(part_path(root, SHOTS, flush)) for flush in flushes]
    return run_stage(client, root, tracking_stage(root, config, pose_version), units, runner)
