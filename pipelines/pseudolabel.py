"""Pseudolabel wiring: the pose stage (GPU workers) over every ok video, then tracking when present."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import DETECTIONS, SHOTS, SOURCES, VIDEOS, DatasetRoot, live_flushes, read_table
from manifests.tables import IMPORT_STAGE, SOURCES_STAGE
from pipelines.runner import RunnerConfig, RunStats, Stage, run_stage
from pipelines.tracking import track
from pseudolabel.work import PoseStageConfig, pose_unit


def pose_stage(config: PoseStageConfig) -> Stage:
    return Stage(name="pose", version=config.version(), outputs=(SHOTS, DETECTIONS),
                 work=partial(pose_unit, config=config), resources={"GPU": 1},
                 make_context=config.backend.build, config=config)


def video_units(root: DatasetRoot, datasets: tuple[str, ...] = ()) -> pd.DataFrame:
    """One unit per harvested video (optionally of some datasets), with its absolute media path and the
    time segments of the authors' clips in it (None = the whole video)."""
    videos = read_table(root, VIDEOS, columns=["video_id", "dataset", "split", "media_path", "fps"])
    if datasets:
        videos = videos[videos["dataset"].isin(datasets)]
    segments = clip_segments(root, dict(zip(videos["video_id"], videos["fps"])))
    return pd.DataFrame({"unit_id": videos["video_id"].to_numpy(),
                         "media_path": [str(root.path / p) for p in videos["media_path"]],
                         "dataset": videos["dataset"].to_numpy(), "split": videos["split"].to_numpy(),
                         "segments": [segments.get(v) for v in videos["video_id"]]})


def clip_segments(root: DatasetRoot, fps_of: dict[str, float]) -> dict[str, list[tuple[float, float]]]:
    """{video_id: [(start_s, end_s)]} of the clips the sources table gives a segment (VLOG's, from frames
    at the video's own rate). A video with one clip of unknown extent is used whole."""
    rows = read_table(root, SOURCES, columns=["video_id", "start_frame", "end_frame"])
    rows = rows[rows["video_id"].isin(list(fps_of))]
    out: dict[str, list[tuple[float, float]]] = {}
    for video_id, group in rows.groupby("video_id"):
        if group["start_frame"].isna().any():
            continue  # some clip of it has no segment: the whole video is used
        fps = fps_of[video_id]
        out[video_id] = [(float(a) / fps, float(b) / fps) for a, b in zip(group["start_frame"], group["end_frame"])]
    return out


def pseudolabel(client: Client, root: DatasetRoot, pose: PoseStageConfig, runner: RunnerConfig,
                datasets: tuple[str, ...] = ()) -> list[RunStats]:
    """Pose every harvested video, then track the posed ones into tubes. Videos whose rows the import stage
    owns (the authors' tracks, tfrecord crops) are never posed: their detections are the imported ones."""
    units = video_units(root, datasets)
    imported = units["unit_id"].isin(live_flushes(root, IMPORT_STAGE).index)
    # A clip segment recorded after a video was posed makes it due again (only the segment is then posed).
    posed, recorded = live_flushes(root, "pose"), live_flushes(root, SOURCES_STAGE)
    redo = {v for v in units.loc[units["segments"].notna(), "unit_id"]
            if v in posed.index and v in recorded.index and recorded[v] > posed[v]}
    stats = [run_stage(client, root, pose_stage(pose), units[~imported], runner, redo=frozenset(redo))]
    stats.append(track(client, root, runner, units, pose_version=pose.version()))
    return stats
