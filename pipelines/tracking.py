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
    """Track the videos (unit_id, dataset, split) whose pose stage has committed rows, and cut tubes from the
    tracks imported from the authors (their track ids kept, never linked again).

    Each unit is handed the part files that hold its live detections and shots (and imported tracks), so
    a worker reads one part, not the whole status table of the stage that wrote them.
    """
    from pipelines.authors_import import tracks_imported

    posed = live_flushes(root, "pose")
    imported = tracks_imported(root)
    posed = posed[~posed.index.isin(imported.index)]
    sources = pd.concat([posed, imported])
    units = videos[videos["unit_id"].isin(sources.index)][["unit_id", "dataset", "split"]].copy()
    flushes = sources.loc[units["unit_id"]].to_numpy()
    units["detections_part"] = [str(part_path(root, DETECTIONS, flush)) for flush in flushes]
    units["shots_part"] = [str(part_path(root, SHOTS, flush)) for flush in flushes]
    is_imported = units["unit_id"].isin(imported.index).to_numpy()
    units["tracks_part"] = [str(part_path(root, TRACKS, flush)) if own else None
                            for flush, own in zip(flushes, is_imported)]
    # Tracks imported again after their tubes were cut (a new import version) make the video due again.
    tracked = live_flushes(root, "tracking")
    redo = {v for v, flush in imported.items() if v in tracked.index and flush > tracked[v]}
    return run_stage(client, root, tracking_stage(root, config, pose_version), units, runner, redo=frozenset(redo))
