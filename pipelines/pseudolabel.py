"""Pseudolabel wiring: the pose stage (GPU workers) over every ok video, then tracking when present."""
from __future__ import annotations

from functools import partial

from distributed import Client

from manifests import DETECTIONS, SHOTS, SOURCES, DatasetRoot, live_flushes, read_table
from manifests.tables import IMPORT_STAGE, SOURCES_STAGE
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.stage import Stage
from pipelines.tracking import harvested_videos, track
from pseudolabel.work import PosePayload, PoseStageConfig, pose_unit
from tracking.work import TrackingConfig


def pose_stage(config: PoseStageConfig) -> Stage:
    return Stage(name="pose", version=config.version(), outputs=(SHOTS, DETECTIONS),
                 work=partial(pose_unit, config=config), resources={"GPU": 1},
                 make_context=config.backend.build, config=config)


def pose_payloads(root: DatasetRoot, datasets: tuple[str, ...] = ()) -> list[PosePayload]:
    """One unit per harvested video (optionally of some datasets), with its absolute media path and the
    time segments of the authors' clips in it (None = the whole video)."""
    videos = harvested_videos(root, datasets)
    segments = clip_segments(root, dict(zip(videos["video_id"], videos["fps"])))
    return [PosePayload(unit_id=video.video_id, media_path=str(root.path / video.media_path),
                        segments=segments.get(video.video_id))
            for video in videos.itertuples(index=False)]


def clip_segments(root: DatasetRoot, fps_of: dict[str, float]) -> dict[str, tuple[tuple[float, float], ...]]:
    """{video_id: ((start_s, end_s), ...)} of the clips the sources table gives a segment (VLOG's, from
    frames at the video's own rate). A video with one clip of unknown extent is used whole."""
    rows = read_table(root, SOURCES, columns=["video_id", "start_frame", "end_frame"])
    rows = rows[rows["video_id"].isin(list(fps_of))]
    out: dict[str, tuple[tuple[float, float], ...]] = {}
    for video_id, group in rows.groupby("video_id"):
        if group["start_frame"].isna().any():
            continue  # some clip of it has no segment: the whole video is used
        fps = fps_of[video_id]
        out[video_id] = tuple((float(a) / fps, float(b) / fps) for a, b in zip(group["start_frame"], group["end_frame"]))
    return out


def pseudolabel(client: Client, root: DatasetRoot, pose: PoseStageConfig, runner: RunnerConfig,
                datasets: tuple[str, ...] = (), tracking: TrackingConfig = TrackingConfig()) -> list[RunStats]:
    """Pose every harvested video, then track the posed ones into tubes. Videos whose rows the import stage
    owns (the authors' tracks, tfrecord crops) are never posed: their detections are the imported ones."""
    with holding_root(root, "hmmr-pseudolabel run", runner):
        imported = live_flushes(root, IMPORT_STAGE)
        payloads = [p for p in pose_payloads(root, datasets) if p.unit_id not in imported.index]
        # A clip segment recorded after a video was posed makes it due again (only the segment is then posed).
        posed, recorded = live_flushes(root, "pose"), live_flushes(root, SOURCES_STAGE)
        redo = {p.unit_id for p in payloads if p.segments is not None and p.unit_id in posed.index
                and p.unit_id in recorded.index and recorded[p.unit_id] > posed[p.unit_id]}
        stats = [run_stage(DaskScheduler(client), root, pose_stage(pose), payloads, runner, redo=frozenset(redo))]
        stats.append(track(client, root, runner, pose_version=pose.version(), config=tracking, datasets=datasets))
    return stats
