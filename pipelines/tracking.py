"""Tracking wiring: a CPU stage over every video whose pose is done."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import DETECTIONS, SHOTS, TRACKS, TUBES, VIDEOS, DatasetRoot, live_flushes, read_table
from manifests.store import part_path
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.stage import Stage
from tracking.work import TrackingConfig, TrackingPayload, track_video


def tracking_stage(config: TrackingConfig, pose_version: str) -> Stage:
    # The pose version is part of ours: new detections (another backend, another --fps) make every
    # video due for tracking again, while unchanged ones stay done.
    return Stage(name="tracking", version=f"{config.version()}|pose={pose_version}", outputs=(TRACKS, TUBES),
                 work=partial(track_video, config=config), config=config)


def harvested_videos(root: DatasetRoot, datasets: tuple[str, ...] = ()) -> pd.DataFrame:
    """The `videos` rows (video_id, dataset, split, media_path, fps, width, height) of the given datasets (all
    when empty)."""
    videos = read_table(root, VIDEOS, columns=["video_id", "dataset", "split", "media_path", "fps", "width", "height"])
    return videos[videos["dataset"].isin(datasets)] if datasets else videos


def track(client: Client, root: DatasetRoot, runner: RunnerConfig, pose_version: str,
          config: TrackingConfig = TrackingConfig(), datasets: tuple[str, ...] = ()) -> RunStats:
    """Track the harvested videos (of `datasets`, all when empty) whose pose stage has committed rows, and
    cut tubes from the tracks imported from the authors (their track ids kept, never linked again).

    Each unit is handed the part files that hold its live detections and shots (and imported tracks), so
    a worker reads one part, not the whole status table of the stage that wrote them.
    """
    from pipelines.authors_import import tracks_imported

    with holding_root(root, "tracking", runner):
        imported = tracks_imported(root)
        posed = live_flushes(root, "pose")
        sources = pd.concat([posed[~posed.index.isin(imported.index)], imported])
        videos = harvested_videos(root, datasets)
        videos = videos[videos["video_id"].isin(sources.index)]
        payloads = []
        for video in videos.itertuples(index=False):
            flush = sources[video.video_id]
            payloads.append(TrackingPayload(
                unit_id=video.video_id, dataset=video.dataset, split=video.split,
                detections_part=str(part_path(root, DETECTIONS, flush)), shots_part=str(part_path(root, SHOTS, flush)),
                tracks_part=str(part_path(root, TRACKS, flush)) if video.video_id in imported.index else None,
                width=int(video.width), height=int(video.height)))
        # Tracks imported again after their tubes were cut (a new import version) make the video due again.
        tracked = live_flushes(root, "tracking")
        redo = {v for v, flush in imported.items() if v in tracked.index and flush > tracked[v]}
        return run_stage(DaskScheduler(client), root, tracking_stage(config, pose_version), payloads, runner,
                         redo=frozenset(redo))
