"""Wiring of the authors' formats: their tracks and tfrecords imported by the stage `import`, and our
tubes exported as their tfrecords.

Imported rows are committed through the runner by the stage `import` for units of its own: a video whose
tracks were imported (its `videos` row re-committed with them), or a stand-in video per imported
tfrecord tube. The pose stage never re-detects a video the import owns; the tracking stage cuts tubes from
imported tracks without linking them again (pipelines.tracking).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client
from tqdm import tqdm

from authors.lists import ListError
from authors.tfrecord import record_offsets
from authors.tfrecord_export import ExportTube, hmmr_keypoints, joints_3d_of, write_shard
from authors.tfrecord_import import TFRECORD_IMPORT_VERSION, TfrecordImportConfig, TfrecordPayload, tfrecord_unit
from authors.tracks import track_videos
from authors.tracks_import import TRACKS_IMPORT_VERSION, TracksPayload, tracks_unit
from harvest.ids import sanitise
from manifests import (DETECTIONS, FEATURES, SHOTS, SOURCES, TARGETS, TRACKS, TUBES, VIDEOS, DatasetRoot,
                       latest_status, read_table)
from manifests.split import SPLITS
from manifests.tables import IMPORT_STAGE
from manifests.rows import VideoRows
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.stage import Stage

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- tracks


@dataclass(frozen=True)
class TracksPlan:
    """Which video folders of a tracks root can be imported: units, and those left out with why."""

    units: list[TracksPayload]
    unknown: list[str]  # folders no recorded list names (give --instavariety to the harvest first)
    not_harvested: list[str]  # named, but the video is not (yet) in the videos table


def plan_tracks(root: DatasetRoot, tracks_root: Path) -> TracksPlan:
    folders = track_videos(tracks_root)
    sources = read_table(root, SOURCES, columns=["video_id", "source_id"])
    video_of = dict(zip(sources["source_id"], sources["video_id"]))
    videos = read_table(root, VIDEOS).set_index("video_id", drop=False)
    units, unknown, not_harvested, seen = [], [], [], set()
    for name, folder in folders.items():
        video_id = video_of.get(name)
        if video_id is None:
            unknown.append(name)
        elif video_id not in videos.index:
            not_harvested.append(name)
        elif video_id not in seen:  # a post listed under two tags: its tracks are imported once
            seen.add(video_id)
            row = videos.loc[[video_id], VIDEOS.columns]
            units.append(TracksPayload(unit_id=video_id, video_dir=str(folder),
                                       video=VideoRows(**{c: row[c].tolist() for c in VIDEOS.columns})))
    return TracksPlan(units, unknown, not_harvested)


def import_tracks(client: Client, root: DatasetRoot, tracks_root: Path, runner: RunnerConfig) -> tuple[RunStats, TracksPlan]:
    """Import the authors' tracks of every harvested video a recorded list names."""
    with holding_root(root, "hmmr-import tracks", runner):
        plan = plan_tracks(root, tracks_root)
        for what, names in (("named by no recorded list (harvest with --instavariety first)", plan.unknown),
                            ("not harvested (deleted posts, or harvest them first)", plan.not_harvested)):
            if names:
                log.warning("%d video folders of %s are %s, e.g. %s", len(names), tracks_root, what, names[0])
        stage = Stage(name=IMPORT_STAGE, version=TRACKS_IMPORT_VERSION, outputs=(VIDEOS, SHOTS, DETECTIONS, TRACKS),
                      work=tracks_unit)
        return run_stage(DaskScheduler(client), root, stage, plan.units, runner), plan


def imported_flushes(root: DatasetRoot, kind_version: str) -> pd.Series:
    """{video_id: flush} of the videos whose latest import attempt is an ok one of this kind (the tracks
    import, the tfrecords import)."""
    status = latest_status(root, IMPORT_STAGE)
    if status.empty:
        return pd.Series([], dtype=object)
    ok = status[(status["status"] == "ok") & (status["version"] == kind_version)]
    return ok["flush_id"]


def tracks_imported(root: DatasetRoot) -> pd.Series:
    return imported_flushes(root, TRACKS_IMPORT_VERSION)


# ---------------------------------------------------------------- tfrecords


def tfrecord_files(inputs: list[Path]) -> list[Path]:
    files = []
    for given in inputs:
        given = Path(given)
        if given.is_dir():
            found = sorted(given.rglob("*.tfrecord"))
            if not found:
                raise ListError(f"{given}: no *.tfrecord files in this folder or below")
            files += found
        elif given.is_file():
            files.append(given)
        else:
            raise ListError(f"{given}: no such file or folder")
    return files


def plan_tfrecords(files: list[Path], dataset: str | None, split: str | None) -> list[TfrecordPayload]:
    """One unit per record: the authors' layout is <rootdir>/<dataset>/<split>/*.tfrecord, which names the
    dataset and split unless given."""
    rows = []
    for path in files:
        file_split = split or (path.parent.name if path.parent.name in SPLITS else None)
        if file_split is None:
            raise ListError(f"{path}: cannot tell its split (its folder is {path.parent.name!r}, not one of "
                            f"{list(SPLITS)}); pass --split")
        file_dataset = dataset or path.parent.parent.name
        for index, offset in enumerate(record_offsets(path)):
            rows.append(TfrecordPayload(
                unit_id=sanitise(f"tfrecord-{file_dataset}-{file_split}-{path.stem}-r{index:04d}"),
                path=str(path.resolve()), offset=int(offset), index=index,
                source=f"{file_dataset}/{file_split}/{path.name}", dataset=file_dataset, split=file_split))
    return rows


def import_tfrecords(client: Client, root: DatasetRoot, inputs: list[Path], dataset: str | None, split: str | None,
                     config: TfrecordImportConfig, runner: RunnerConfig) -> RunStats:
    """Every tube of the tfrecords as a stand-in video with its tubes, targets and features rows."""
    units = plan_tfrecords(tfrecord_files(inputs), dataset, split)
    stage = Stage(name=IMPORT_STAGE, version=TFRECORD_IMPORT_VERSION, outputs=(VIDEOS, TUBES, TARGETS, FEATURES),
                  work=partial(tfrecord_unit, root=str(root.path), config=config), config=config)
    with holding_root(root, "hmmr-import tfrecords", runner):
        return run_stage(DaskScheduler(client), root, stage, units, runner)


# ---------------------------------------------------------------- export


def _export_tubes(root: DatasetRoot, tubes: pd.DataFrame, view: int) -> list[ExportTube]:
    video_ids = list(pd.unique(tubes["video_id"]))
    videos = read_table(root, VIDEOS, columns=["video_id", "media_path"], units=video_ids).set_index("video_id")
    targets = read_table(root, TARGETS, units=video_ids).set_index("tube_id")
    features = read_table(root, FEATURES, columns=["tube_id", "view", "bbox", "features"], units=video_ids)
    features = features[features["view"] == view].set_index("tube_id")
    out = []
    for row in tubes.itertuples(index=False):
        n = int(row.n_frames)
        target = targets.loc[row.tube_id] if row.tube_id in targets.index else None
        keypoints = (hmmr_keypoints(np.stack(target["keypoints"]).reshape(n, 25, 3), is_hmmr=True) if target is not None
                     else hmmr_keypoints(np.stack(row.keypoints).reshape(n, 25, 3), is_hmmr=False))
        has_features = row.tube_id in features.index
        boxes = np.stack(features.at[row.tube_id, "bbox"] if has_features else row.bbox).astype(np.float32)
        poses = None if target is None or target["pose"] is None else np.stack(target["pose"])
        out.append(ExportTube(
            tube_id=row.tube_id, media_path=root.path / videos.at[row.video_id, "media_path"], fps=float(row.fps),
            start_frame=int(row.start_frame), keypoints=keypoints, boxes=boxes,
            features=np.stack(features.at[row.tube_id, "features"]).astype(np.float32) if has_features else None,
            joints_3d=None if target is None or target["joints_3d"] is None
            else joints_3d_of(np.stack(target["joints_3d"]), n),
            poses=poses, shape=None if target is None or target["shape"] is None else np.asarray(target["shape"])))
    return out


def export_tfrecords(root: DatasetRoot, out_dir: Path, datasets: tuple[str, ...] = (), splits: tuple[str, ...] = (),
                     views: int = 1, tubes_per_file: int = 50, progress: bool = True) -> list[Path]:
    """Write the tubes of `datasets` (all when empty) in `splits` as OUT/<dataset>/<split>/
    <dataset>_<shard>_copy<view>.tfrecord, `tubes_per_file` tubes a file, one copy per feature view (the
    authors' num_copy); the authors' trainer reads OUT with --data_dir OUT --datasets <dataset>."""
    tubes = read_table(root, TUBES)
    if datasets:
        unknown = sorted(set(datasets) - set(tubes["dataset"]))
        if unknown:
            raise ListError(f"no tubes for datasets {unknown} in {root.path}; it has {sorted(set(tubes['dataset']))}")
        tubes = tubes[tubes["dataset"].isin(datasets)]
    if splits:
        tubes = tubes[tubes["split"].isin(splits)]
    written = []
    jobs = [(dataset, split, group.sort_values("tube_id"))
            for (dataset, split), group in tubes.groupby(["dataset", "split"], sort=True)]
    n_files = sum(-(-len(group) // tubes_per_file) * views for _, _, group in jobs)
    with tqdm(total=n_files, desc="export", unit="file", disable=not progress) as bar:
        for dataset, split, group in jobs:
            for shard, start in enumerate(range(0, len(group), tubes_per_file)):
                chunk = group.iloc[start:start + tubes_per_file]
                for view in range(views):
                    path = Path(out_dir) / dataset / split / f"{sanitise(dataset)}_{shard:02d}_copy{view:02d}.tfrecord"
                    written.append(write_shard(path, _export_tubes(root, chunk, view)))
                    bar.update(1)
    return written
