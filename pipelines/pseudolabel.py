"""Pseudolabel wiring: the pose stage (GPU workers) over every ok video, then tracking when present."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import DETECTIONS, SHOTS, VIDEOS, DatasetRoot, live_flushes, read_table
from manifests.tables import IMPORT_STAGE
from pipelines.runner import RunnerConfig, RunStats, Stage, run_stage
from pipelines.tracking import track
from pseudolabel.work import PoseStageConfig, pose_unit


def pose_stage(config: PoseStageConfig) -> Stage:
    return Stage(name="pose", version=config.version(), outputs=(SHOTS, DETECTIONS),
                 work=partial(pose_unit, config=config), resources={"GPU": 1},
                 make_context=config.backend.build, config=config)


def video_units(root: DatasetRoot, datasets: tuple[str, ...] = ()) -> pd.DataFrame:
    """One unit per harvested video (optionally of some datasets), with its absolute media path."""
    videos = read_table(root, VIDEOS, columns=["video_id", "dataset", "split", "media_path", "fps"])
    if datasets:
        videos = videos[videos["dataset"].isin(datasets)]
    return pd.DataFrame({"unit_id": videos["video_id"].to_numpy(),
                         "media_path": [str(root.path / p) for p in videos["media_path"]],
                         "dataset": videos["dataset"].to_numpy(), "split": videos["split"].to_numpy()})


def pseudolabel(client: Client, root: DatasetRoot, pose: PoseStageConfig, runner: RunnerConfig,
                datasets: tuple[str, ...] = ()) -> list[RunStats]:
    """Pose every harvested video, then track the posed ones into tubes. Videos whose rows the import stage
    owns (the authors' tracks, tfrecord crops) are never posed: their detections are the imported ones."""
    units = video_units(root, datasets)
    imported = units["unit_id"].isin(live_flushes(root, IMPORT_STAGE).index)
    stats = [run_stage(client, root, pose_stage(pose), units[~imported], runner)]
    stats.append(track(client, root, runner, units, pose_version=pose.version()))
    return stats
