"""Pseudolabel wiring: the pose stage (GPU workers) over every ok video, then tracking when present."""
from __future__ import annotations

from functools import partial

from distributed import Client

from manifests import DETECTIONS, SHOTS, DatasetRoot
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.stage import Stage
from pipelines.tracking import harvested_videos, track
from pseudolabel.work import PosePayload, PoseStageConfig, pose_unit


def pose_stage(config: PoseStageConfig) -> Stage:
    return Stage(name="pose", version=config.version(), outputs=(SHOTS, DETECTIONS),
                 work=partial(pose_unit, config=config), resources={"GPU": 1},
                 make_context=config.backend.build, config=config)


def pose_payloads(root: DatasetRoot, datasets: tuple[str, ...] = ()) -> list[PosePayload]:
    """One unit per harvested video (optionally of some datasets), with its absolute media path."""
    videos = harvested_videos(root, datasets)
    return [PosePayload(unit_id=video.video_id, media_path=str(root.path / video.media_path))
            for video in videos.itertuples(index=False)]


def pseudolabel(client: Client, root: DatasetRoot, pose: PoseStageConfig, runner: RunnerConfig,
                datasets: tuple[str, ...] = ()) -> list[RunStats]:
    """Pose every harvested video, then track the posed ones into tubes."""
    with holding_root(root, "hmmr-pseudolabel run", runner):
        stats = [run_stage(DaskScheduler(client), root, pose_stage(pose), pose_payloads(root, datasets), runner)]
        stats.append(track(client, root, runner, pose_version=pose.version(), datasets=datasets))
    return stats
