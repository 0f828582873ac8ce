"""Bring the training store up to date with the live manifest rows, incrementally and crash-safely.

A video's rows in the store are keyed by the flushes they were made from (its live flush of the
tubes, features and targets tables). Status tables alone say which flush is live for each video, so
an unchanged store is recognised without reading any data part; a video whose flushes changed
(re-tracked, re-featured, imported again, taken down) leaves the index, and its new rows, if any, are
appended in a new shard. Old shards are never rewritten.

Each shard is written under a temporary name, renamed into place, then committed by rewriting the
index (atomically). A crash leaves the last committed store; the next update removes the leftovers and
does the same work again, in the same order, so it ends with the same store an uninterrupted run makes.
"""
from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from manifests import FEATURES, TARGETS, TUBES, DatasetLock, DatasetRoot
from manifests.errors import InputError
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
from manifests.spec import TableSpec
from manifests.snapshot import Snapshot
from manifests.tombstones import removed_video_ids
from manifests.store import flush_id_of, live_unit_flushes, part_path, read_part
from manifests.tables import FEATURE_DIM
from train.store import (NO_FEATURES, NO_TUBES, NOT_LOADED, READY, SHARD_ARRAYS, SOURCE_COLUMNS, STALE_FEATURES,
                         TEMP_PREFIX, NpyAppender, empty_index, publish_shard, read_index, remove_uncommitted,
                         shard_dir, write_index)

log = logging.getLogger(__name__)

SHARD_BYTES = 2**30  # features per shard: large enough for few files, small enough to lose little to a crash
LOCK_WAIT_S = 24 * 3600.0  # other ranks and runs wait for the one updating (a first build can take long)
CROP_HALF_PX = 112.0  # a 224 crop; keypoints become (pixel in crop / 112) - 1, i.e. [-1, 1]
CRASH_ENV = "HMMR_CRASH_AT"  # test hook, as the stage runner's: "store-shard:<n>" kills at the n-th shard
# Every table the store reads, in the order of SOURCE_COLUMNS: a training run's data record
# (manifests.snapshot.data_state) must cover exactly these, or --resume could continue on other rows.
SOURCE_TABLES = (TUBES, FEATURES, TARGETS)


class DataError(InputError, ValueError):
    """The manifests do not hold what training was asked to use."""


@dataclass(frozen=True)
class StoreReport:
    n_videos_read: int
    n_tubes_loaded: int
    n_frames_loaded: int
    n_shards_written: int
    n_tubes_dropped: int


def crop_coordinates(keypoints_px: np.ndarray, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HMMR_25 keypoints (n, 25, 3) in original pixels and crop boxes (..., n, 3) -> crop coordinates
    (..., n, 25, 2) float32 ([-1, 1] inside the 224 crop) and visibility (n, 25) float32."""
    centre, scale = bbox[..., :, None, :2], bbox[..., :, None, 2:3]
    coordinates = (keypoints_px[..., :2] - centre) * scale / CROP_HALF_PX
    return coordinates.astype(np.float32), keypoints_px[..., 2].astype(np.float32)


def live_sources(root: DatasetRoot) -> pd.DataFrame:
    """Per video with live tubes: the flushes of its live tubes, features and targets rows ('' = none)."""
    tubes = live_unit_flushes(root, TUBES)
    frame = pd.DataFrame({"tubes_flush": tubes.astype(str)}, index=pd.Index(tubes.index, name="video_id"))
    for column, spec in zip(SOURCE_COLUMNS[1:], SOURCE_TABLES[1:]):
        frame[column] = live_unit_flushes(root, spec).reindex(frame.index).fillna("").astype(str)
    return frame


def snapshot_sources(root: DatasetRoot, snapshot: Snapshot) -> pd.DataFrame:
    """`live_sources` as `snapshot` froze them: per video of its tubes, the flushes of its tubes, features
    and targets parts then ('' = none), less the videos removed since."""
    removed = removed_video_ids(root)
    flushes = {}
    for column, spec in zip(SOURCE_COLUMNS, SOURCE_TABLES):
        pieces = snapshot.pieces[(snapshot.pieces["table"] == spec.name) & ~snapshot.pieces["unit"].isin(removed)]
        flushes[column] = pd.Series([flush_id_of(Path(part)) or "" for part in pieces["part"]],
                                    index=pd.Index(pieces["unit"], name="video_id"), dtype=str)
    frame = pd.DataFrame({"tubes_flush": flushes["tubes_flush"]})
    for column in ("features_flush", "targets_flush"):
        frame[column] = flushes[column].reindex(frame.index).fillna("").astype(str)
    return frame


def due_videos(index: pd.DataFrame, live: pd.DataFrame, datasets: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """(index rows still live and complete, videos to read again): a video is due when its live flushes
    differ from the ones its rows came from, when it is new, or when a dataset now asked for was not loaded."""
    recorded = index.groupby("video_id", sort=False)[SOURCE_COLUMNS].first()
    current = live.reindex(recorded.index)
    unchanged = (recorded == current).all(axis=1)
    wanted = index.loc[(index["state"] == NOT_LOADED) & index["dataset"].isin(list(datasets)), "video_id"]
    keep = unchanged[unchanged].index.difference(pd.Index(wanted.unique()))
    return index[index["video_id"].isin(keep)], sorted(set(live.index) - set(keep))


def _read_rows(root: DatasetRoot, spec: TableSpec, flushes: pd.Series, columns: list[str]) -> pa.Table:
    """The rows of the videos in `flushes` (video -> flush) from their parts, one read per part.
    A committed flush without a part of this table has no rows in it."""
    tables = []
    present = flushes[flushes != ""]
    for flush_id, videos in present.groupby(present, sort=True):
        path = part_path(root, spec, flush_id)
        if path.is_file():
            tables.append(read_part(spec, path, list(videos.index), columns))
    return pa.concat_tables(tables) if tables else spec.schema.empty_table().select(columns)


def _vectors(column: pa.ChunkedArray, width: int) -> list[np.ndarray | None]:
    """A list<fixed_size_list<width>> column -> per row an (n, width) array (a view where Arrow allows), or None."""
    out: list[np.ndarray | None] = []
    for chunk in column.chunks:
        values = chunk.flatten().flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
        lengths = pc.fill_null(pc.list_value_length(chunk), 0).to_numpy()
        ends = np.cumsum(lengths)
        for valid, end, length in zip(chunk.is_valid().to_numpy(zero_copy_only=False), ends, lengths):
            out.append(values[end - length:end] if valid else None)
    return out


def _classify(root: DatasetRoot, live: pd.DataFrame, due: list[str], datasets: Sequence[str]) -> pd.DataFrame:
    """Index rows (without array locations) for every tube of the due videos, in the state its rows allow."""
    sources = live.loc[due]
    tubes = _read_rows(root, TUBES, sources["tubes_flush"], ["tube_id", "video_id", "dataset", "split", "n_frames"])
    rows = tubes.to_pandas().join(sources, on="video_id")
    tubeless = sources.index.difference(pd.Index(rows["video_id"].unique()))
    rows = pd.concat([rows, sources.loc[tubeless].reset_index().assign(
        tube_id="", dataset="", split="", n_frames=0, state=NO_TUBES)], ignore_index=True)
    chosen = rows["state"].isna() & rows["dataset"].isin(list(datasets))
    rows.loc[rows["state"].isna() & ~chosen, "state"] = NOT_LOADED
    featured = sources.loc[rows.loc[chosen, "video_id"].unique(), "features_flush"]
    made = _read_rows(root, FEATURES, featured, ["tube_id", "video_id", "view", "n_frames", "tubes_flush"]).to_pandas()
    # Features made from tubes other than the live ones: the video was tracked again since. (Features
    # committed in the same flush as their tubes, as an import does, are made from them by construction.)
    made_from = made["video_id"].map(sources["tubes_flush"])
    stale = made.loc[(made["tubes_flush"] != made_from) & (made["tubes_flush"] != "")
                     & (made["video_id"].map(sources["features_flush"]) != made_from), "video_id"].unique()
    views = made.groupby("tube_id").agg(views=("view", "nunique"), last=("view", "max"), n=("n_frames", "min"),
                                        n_max=("n_frames", "max"))
    rows = rows.join(views, on="tube_id")
    rows.loc[chosen & rows["views"].isna(), "state"] = NO_FEATURES
    rows.loc[chosen & rows["video_id"].isin(stale), "state"] = STALE_FEATURES
    loadable = chosen & rows["state"].isna()
    bad = rows[loadable & ((rows["n"] != rows["n_frames"]) | (rows["n_max"] != rows["n_frames"])
                           | (rows["last"] + 1 != rows["views"]))]
    if len(bad):
        row = bad.iloc[0]
        raise DataError(f"tube {row.tube_id} has {row.n_frames} frames but its features (flush {row.features_flush}) "
                        f"have {row.n}..{row.n_max} frames in views 0..{int(row.last)}: the features table does not "
                        f"match its tubes; run `hmmr-train features --root {root.path}` to make them again")
    rows.loc[loadable, "state"] = READY
    rows["views"] = rows["views"].fillna(0).astype(np.int32)
    return rows.drop(columns=["last", "n", "n_max"])


def _crash_point(name: str, count: int) -> None:
    wanted = os.environ.get(CRASH_ENV, "")
    if wanted == f"{name}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)


def _chunks(ready: pd.DataFrame, shard_bytes: int) -> list[list[str]]:
    """Videos to load, in (features flush, video) order, cut into shards of about `shard_bytes` of features."""
    per_video = (ready["views"] * ready["n_frames"]).groupby(ready["video_id"]).sum() * FEATURE_DIM * 2
    order = ready.drop_duplicates("video_id").sort_values(["features_flush", "video_id"])["video_id"]
    chunks, current, size = [], [], 0
    for video in order:
        current.append(video)
        size += int(per_video[video])
        if size >= shard_bytes:
            chunks.append(current)
            current, size = [], 0
    return chunks + ([current] if current else [])


def _write_shard(root: DatasetRoot, folder: Path, ready: pd.DataFrame, live: pd.DataFrame, progress) -> pd.DataFrame:
    """Write the arrays of the `ready` tubes into `folder`; returns their rows with array locations."""
    folder.mkdir(parents=True)
    sinks = {name: NpyAppender(folder / f"{name}.npy", dtype, shape) for name, (dtype, shape) in SHARD_ARRAYS.items()}
    located = []
    for flush_id, group in ready.groupby("features_flush", sort=True):
        videos = live.loc[group["video_id"].unique()]
        features = _read_rows(root, FEATURES, videos["features_flush"], ["tube_id", "view", "bbox", "flipped", "features"])
        tubes = _read_rows(root, TUBES, videos["tubes_flush"], ["tube_id", "keypoints"])
        targets = _read_rows(root, TARGETS, videos["targets_flush"], ["tube_id", "keypoints", "joints_3d", "pose", "shape"])
        by_view = {(t, v): i for i, (t, v) in enumerate(zip(features["tube_id"].to_pylist(), features["view"].to_pylist()))}
        vectors, boxes = _vectors(features["features"], FEATURE_DIM), _vectors(features["bbox"], 3)
        flipped = [bool(f) for f in features["flipped"].to_pylist()]  # null (older features): not mirrored
        tube_keypoints = dict(zip(tubes["tube_id"].to_pylist(), _vectors(tubes["keypoints"], 75)))
        target_of = {t: i for i, t in enumerate(targets["tube_id"].to_pylist())}
        target_keypoints = _vectors(targets["keypoints"], len(HMMR_25) * 3)
        joints, poses = _vectors(targets["joints_3d"], N_LSP * 3), _vectors(targets["pose"], 72)
        shapes = targets["shape"].to_pylist()
        for row in group.sort_values(["video_id", "tube_id"]).itertuples(index=False):
            n, target = row.n_frames, target_of.get(row.tube_id)
            if target is not None:
                keypoints = target_keypoints[target].reshape(-1, len(HMMR_25), 3)
            else:
                keypoints = convert_joints(tube_keypoints[row.tube_id].reshape(-1, len(BODY_25), 3), BODY_25, HMMR_25)
            if len(keypoints) != n:
                raise DataError(f"tube {row.tube_id} has {n} frames but {len(keypoints)} frames of 2D keypoints in "
                                f"the {'targets' if target is not None else 'tubes'} table: its import is broken")
            location = dict(row._asdict(), row=sinks["features"].n_rows, frame_row=sinks["visibility"].n_rows, row_3d=-1,
                            has_targets=target is not None, has_3d=False, has_smpl=False)
            for view in range(row.views):
                i = by_view[(row.tube_id, view)]
                coordinates, visibility = crop_coordinates(keypoints, boxes[i])
                sinks["features"].append(vectors[i])
                sinks["keypoints"].append(coordinates)
                # Targets stay as annotated: the reader mirrors a flipped view's windows (train.augment).
                sinks["flipped"].append(np.full(n, flipped[i]))
            sinks["visibility"].append(visibility)
            if target is not None:
                joint, pose, shape = joints[target], poses[target], shapes[target]
                location.update(has_3d=joint is not None, has_smpl=pose is not None and shape is not None)
                if location["has_3d"] or location["has_smpl"]:
                    location["row_3d"] = sinks["pose"].n_rows
                    sinks["joints_3d"].append(np.zeros((n, N_LSP, 3)) if joint is None else joint.reshape(n, N_LSP, 3))
                    sinks["pose"].append(pose if location["has_smpl"] else np.zeros((n, 72)))
                    sinks["shape"].append(np.tile(shape if location["has_smpl"] else np.zeros(10), (n, 1)))
            located.append(location)
            progress(n)
    for sink in sinks.values():
        sink.close()
    return pd.DataFrame(located)


def _as_index(frame: pd.DataFrame) -> pa.Table:
    defaults = {"views": 0, "shard": -1, "row": -1, "frame_row": -1, "row_3d": -1, "has_targets": False,
                "has_3d": False, "has_smpl": False}
    frame = frame.assign(**{k: v for k, v in defaults.items() if k not in frame.columns})
    frame = frame.fillna({k: v for k, v in defaults.items()})
    schema = empty_index().schema
    return pa.Table.from_pandas(frame[schema.names], preserve_index=False).cast(schema)


def update_store(root: DatasetRoot, store_dir: Path, datasets: Sequence[str], shard_bytes: int = SHARD_BYTES,
                 progress: bool = True, snapshot: Snapshot | None = None) -> StoreReport:
    """Load every live tube of `datasets` that has features into the store at `store_dir`, and drop
    from its index every row that is no longer live (with `snapshot`: the rows it froze instead of the
    live ones). Holds the store's lock (other ranks wait)."""
    from tqdm import tqdm

    store_dir = Path(store_dir)
    with DatasetLock(store_dir, owner="hmmr-train (training store update)", wait_s=LOCK_WAIT_S):
        index, next_shard = read_index(store_dir)
        remove_uncommitted(store_dir, next_shard)
        old = index.to_pandas()
        live = live_sources(root) if snapshot is None else snapshot_sources(root, snapshot)
        kept, due = due_videos(old, live, datasets)
        n_dropped = int((~old["video_id"].isin(kept["video_id"]) & (old["state"] == READY)).sum())
        if not due and len(kept) == len(old):
            return StoreReport(0, 0, 0, 0, 0)
        rows = _classify(root, live, due, datasets)
        ready = rows[rows["state"] == READY]
        waiting = rows[~rows["video_id"].isin(ready["video_id"])]  # committed at once: nothing of theirs to load
        chunks = _chunks(ready, shard_bytes) if len(ready) else []
        total = int(ready["n_frames"].sum())
        if total:
            log.info("training store %s: loading %d tubes (%d frames) of %d videos into %d new shard(s)", store_dir,
                     len(ready), total, ready["video_id"].nunique(), len(chunks))
        committed = [kept, waiting]
        with tqdm(total=total, unit="frame", desc="training store", disable=None if progress else True) as bar:
            if not chunks:
                write_index(store_dir, pa.concat_tables([_as_index(f) for f in committed if len(f)] or [empty_index()]),
                            next_shard)
            for number, videos in enumerate(chunks, start=1):
                shard = next_shard
                temporary = shard_dir(store_dir, shard).with_name(f"{TEMP_PREFIX}{shard:06d}")
                chunk_rows = ready[ready["video_id"].isin(videos)]
                located = _write_shard(root, temporary, chunk_rows, live, bar.update)
                located["shard"] = shard
                publish_shard(temporary, shard_dir(store_dir, shard))
                _crash_point("store-shard", number)
                committed.append(pd.concat([located, rows[rows["video_id"].isin(videos) & (rows["state"] != READY)]]))
                next_shard += 1
                write_index(store_dir, pa.concat_tables([_as_index(f) for f in committed if len(f)]), next_shard)
        return StoreReport(len(due), len(ready), total, len(chunks), n_dropped)
