"""Synthetic dataset roots for the training store's tests and bench, committed as the stages commit them.

Each commit goes through the runner's own `manifests.commit.commit` (data parts, then the status part
that commits them), in this process and without a cluster, so a root of a million frames is written part by part
and never held in memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manifests import FEATURES, TARGETS, TUBES, DatasetRoot, live_flushes, to_table
from manifests.joints import HMMR_25, N_LSP
from manifests.tables import FEATURE_DIM, IMPORT_STAGE, tube_id_of
from manifests.commit import UnitOutcome, commit as commit_flush
from pipelines.records import new_run_id


@dataclass(frozen=True)
class SyntheticVideo:
    video_id: str
    dataset: str
    split: str
    tube_frames: tuple[int, ...]  # n_frames of each of its tubes
    seed: int = 0

    def tube_ids(self) -> list[str]:
        return [tube_id_of(self.video_id, track, 0) for track in range(len(self.tube_frames))]


def _rng(video: SyntheticVideo, salt: int) -> np.random.Generator:
    return np.random.default_rng([video.seed, salt, *video.video_id.encode()])


def tube_rows(video: SyntheticVideo) -> dict:
    """The `tubes` rows of a video: BODY_25 keypoints scattered around a moving box, boxes, quality."""
    rng = _rng(video, 1)
    rows = {name: [] for name in TUBES.columns}
    for track, n in enumerate(video.tube_frames):
        centre = np.array([320.0, 240.0]) + np.cumsum(rng.normal(0, 2, (n, 2)), axis=0)
        keypoints = np.concatenate([centre[:, None] + rng.normal(0, 60, (n, 25, 2)), rng.random((n, 25, 1))], axis=2)
        bbox = np.concatenate([centre, np.full((n, 1), 0.75)], axis=1)
        for name, value in (("tube_id", tube_id_of(video.video_id, track, 0)), ("video_id", video.video_id),
                            ("dataset", video.dataset), ("split", video.split), ("track_id", track), ("shot", 0),
                            ("start_frame", 0), ("end_frame", n), ("n_frames", n), ("fps", 25.0),
                            ("keypoints", keypoints.reshape(n, 75).astype(np.float32)),
                            ("bbox", bbox.astype(np.float32)), ("mean_confidence", 0.5), ("mean_visible_joints", 25.0)):
            rows[name].append(value)
    return rows


def feature_rows(video: SyntheticVideo, views: int, tubes_flush: str, version: int = 0,
                 flipped: tuple[bool | None, ...] = ()) -> dict:
    """The `features` rows of a video in `views` views: boxes scaled per view, random float16 vectors;
    flipped: each view's `flipped` flag (views not named: null, as features made before the flag)."""
    rng = _rng(video, 2 + version)
    rows = {name: [] for name in FEATURES.columns}
    tubes = tube_rows(video)
    for tube_id, n, bbox in zip(tubes["tube_id"], tubes["n_frames"], tubes["bbox"]):
        for view in range(views):
            # Random bit patterns below 0x7C00 are finite, non-negative float16: as fast as memory allows.
            vectors = rng.integers(0, 0x7C00, (n, FEATURE_DIM), dtype=np.uint16).view(np.float16)
            for name, value in (("tube_id", tube_id), ("video_id", video.video_id), ("view", view), ("n_frames", n),
                                ("bbox", bbox * np.array([1.0, 1.0, 1.0 + 0.1 * view], np.float32)),
                                ("flipped", flipped[view] if view < len(flipped) else None),
                                ("features", vectors), ("extractor", "synthetic"),
                                ("extractor_version", str(version)), ("tubes_flush", tubes_flush)):
                rows[name].append(value)
    return rows


def target_rows(video: SyntheticVideo, with_3d: bool = True, with_smpl: bool = True) -> dict:
    """`targets` rows of an imported video: HMMR_25 keypoints, and 3D joints / SMPL when asked."""
    rng = _rng(video, 3)
    rows = {name: [] for name in TARGETS.columns}
    for tube_id, n in zip(video.tube_ids(), video.tube_frames):
        keypoints = np.concatenate([rng.uniform(100, 500, (n, len(HMMR_25), 2)), rng.integers(0, 2, (n, len(HMMR_25), 1))], 2)
        for name, value in (("tube_id", tube_id), ("video_id", video.video_id),
                            ("keypoints", keypoints.reshape(n, -1).astype(np.float32)),
                            ("joints_3d", rng.normal(0, 0.5, (n, N_LSP * 3)).astype(np.float32) if with_3d else None),
                            ("pose", rng.normal(0, 0.3, (n, 72)).astype(np.float32) if with_smpl else None),
                            ("shape", rng.normal(0, 1, 10).astype(np.float32) if with_smpl else None),
                            ("source", "synthetic")):
            rows[name].append(value)
    return rows


def commit(root: DatasetRoot, stage: str, tables: dict[str, dict[str, object]], version: str = "synthetic",
           run_id: str | None = None) -> str:
    """One flush of `stage`: {unit (video): {table: rows}} as the runner writes it; returns its flush id.
    run_id: the run's (new_run_id), when it started before this call (it commits now all the same)."""
    specs = {spec.name: spec for spec in (TUBES, FEATURES, TARGETS)}
    outputs = tuple(specs[name] for name in sorted({t for unit in tables.values() for t in unit}))
    flush_id = f"{run_id or new_run_id(stage)}-000001"
    outcomes = [UnitOutcome(unit, "ok", tables={name: to_table(specs[name], rows, source=f"synthetic {name} of {unit}")
                                                for name, rows in unit_tables.items()})
                for unit, unit_tables in tables.items()]
    commit_flush(root, stage, version, outputs, flush_id[:-7], flush_id, outcomes)
    return flush_id


def commit_skip(root: DatasetRoot, stage: str, video_ids: list[str], reason: str = "takedown") -> str:
    """A later `skipped` attempt of `stage` for these videos: their rows stop being live (a takedown)."""
    flush_id = f"{new_run_id(stage)}-000001"
    outcomes = [UnitOutcome(video_id, "skipped", reason=reason) for video_id in video_ids]
    commit_flush(root, stage, "synthetic", (), flush_id[:-7], flush_id, outcomes)
    return flush_id


def commit_tracking(root: DatasetRoot, videos: list[SyntheticVideo]) -> str:
    return commit(root, "tracking", {v.video_id: {"tubes": tube_rows(v)} for v in videos})


def commit_features(root: DatasetRoot, videos: list[SyntheticVideo], views: int = 3, version: int = 0) -> str:
    """Features of the videos' live tubes, recording the tracking commit they were made from, as the stage does."""
    tracked = live_flushes(root, "tracking")
    return commit(root, "features", {v.video_id: {"features": feature_rows(v, views, tracked[v.video_id], version)}
                                     for v in videos}, version=f"synthetic-{version}")


def commit_import(root: DatasetRoot, videos: list[SyntheticVideo], views: int = 1, with_3d: bool = True,
                  with_smpl: bool = True, flipped: tuple[bool | None, ...] = (), nan_frames: tuple[int, ...] = ()) -> str:
    """An import of a published dataset: tubes, targets and features of each video in one flush.
    nan_frames: frames whose 3D joints are NaN (3DPW's frames without a valid camera)."""
    def targets(video: SyntheticVideo) -> dict:
        rows = target_rows(video, with_3d, with_smpl)
        for joints in rows["joints_3d"] if with_3d else []:
            joints[list(nan_frames)] = np.nan
        return rows

    return commit(root, IMPORT_STAGE, {v.video_id: {"tubes": tube_rows(v), "targets": targets(v),
                                                    "features": feature_rows(v, views, "", flipped=flipped)}
                                       for v in videos})


def write_feature_root(root: DatasetRoot, n_frames: int, frames_per_tube: int = 100, tubes_per_video: int = 4,
                       views: int = 3, videos_per_flush: int = 32, dataset: str = "insta", split: str = "train",
                       progress=None) -> int:
    """A root of about `n_frames` tube frames with features in `views` views, written a flush at a time
    (a tracking commit, then its features commit). Returns the number of tubes."""
    per_video = frames_per_tube * tubes_per_video
    n_videos = max(1, round(n_frames / per_video))
    for first in range(0, n_videos, videos_per_flush):
        videos = [SyntheticVideo(f"bench-{i:07d}", dataset, split, (frames_per_tube,) * tubes_per_video)
                  for i in range(first, min(n_videos, first + videos_per_flush))]
        commit_tracking(root, videos)
        commit_features(root, videos, views)
        if progress:
            progress(len(videos) * per_video)
    return n_videos * tubes_per_video
