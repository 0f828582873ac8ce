"""The training store: what lies on disk and how windows are read from it.

A derived copy of the manifests laid out for random access to windows of T frames
(`<root>/store/` by default; `train.store_update` builds it, the manifests stay the source of truth):

  index.parquet            one row per live tube of the root (and one per tubeless video), with the
                           flushes its rows came from, its state, and where its arrays lie
  shards/<id>/<array>.npy  contiguous arrays, memory-mapped by readers; written once, never rewritten
    features   (rows, 2048) float16    rows = a tube's views one after another, n frames each
    keypoints  (rows, 25, 2) float32   HMMR_25 in crop units of that row's view ([-1, 1] in the crop),
                                       as annotated even where the view is mirrored
    flipped    (rows,) bool            that row's view saw mirrored crops (FEATURES `flipped`): a reader
                                       mirrors such a window's targets (train.augment.mirror_windows)
    visibility (frames, 25) float32    per frame of a tube, the same for every view
    joints_3d  (frames_3d, 14, 3) float32, pose (frames_3d, 72), shape (frames_3d, 10): only the
                                       frames of tubes with 3D supervision (zeros where one kind is absent)

Plain `.npy` files: a window is one slice of each array, read through the page cache without a copy
per rank (see the README for the formats measured against it).
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from manifests.atomic import TEMP_PREFIX, fsync_dir, write_atomic
from manifests.joints import HMMR_25, N_LSP
from manifests.tables import FEATURE_DIM

STORE_FORMAT = "2"  # 2: the `flipped` array of mirrored views
INDEX_NAME = "index.parquet"
SHARDS_DIR = "shards"
N_JOINTS = len(HMMR_25)

# A tube's state in the index. Only READY tubes have arrays; the others are remembered so that an
# unchanged video is never read again, and so errors can say what is missing without the manifests.
READY = "ready"
NO_FEATURES = "no_features"  # its video has no features yet
STALE_FEATURES = "stale_features"  # its video's features were made from tubes that were tracked again since
NOT_LOADED = "not_loaded"  # a dataset no run has asked for yet
NO_TUBES = "no_tubes"  # a tracked video without tubes (tube_id is empty): nothing to load, nothing to re-read

INDEX_SCHEMA = pa.schema([
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("tube_id", pa.string(), nullable=False),
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("n_frames", pa.int32(), nullable=False),
    pa.field("state", pa.string(), nullable=False),
    # The manifest flushes this row was made from ('' = none): the row is live while they are its
    # video's live flushes of the tubes, features and targets tables.
    pa.field("tubes_flush", pa.string(), nullable=False),
    pa.field("features_flush", pa.string(), nullable=False),
    pa.field("targets_flush", pa.string(), nullable=False),
    pa.field("views", pa.int32(), nullable=False),
    pa.field("shard", pa.int32(), nullable=False),  # -1 unless READY
    pa.field("row", pa.int64(), nullable=False),  # first row of view 0 in features/keypoints
    pa.field("frame_row", pa.int64(), nullable=False),  # first row in visibility
    pa.field("row_3d", pa.int64(), nullable=False),  # first row in joints_3d/pose/shape; -1 = no 3D
    pa.field("has_targets", pa.bool_(), nullable=False),  # keypoints from the targets table, not BODY_25
    pa.field("has_3d", pa.bool_(), nullable=False),  # 3D joints
    pa.field("has_smpl", pa.bool_(), nullable=False),  # SMPL pose and shape
])
SOURCE_COLUMNS = ["tubes_flush", "features_flush", "targets_flush"]

# name -> (dtype, shape of one row)
SHARD_ARRAYS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "features": (np.dtype(np.float16), (FEATURE_DIM,)),
    "keypoints": (np.dtype(np.float32), (N_JOINTS, 2)),
    "flipped": (np.dtype(np.bool_), ()),
    "visibility": (np.dtype(np.float32), (N_JOINTS,)),
    "joints_3d": (np.dtype(np.float32), (N_LSP, 3)),
    "pose": (np.dtype(np.float32), (72,)),
    "shape": (np.dtype(np.float32), (10,)),
}


def index_path(store_dir: Path) -> Path:
    return Path(store_dir) / INDEX_NAME


def shard_dir(store_dir: Path, shard: int) -> Path:
    return Path(store_dir) / SHARDS_DIR / f"{shard:06d}"


def empty_index() -> pa.Table:
    return INDEX_SCHEMA.empty_table()


def read_index(store_dir: Path) -> tuple[pa.Table, int]:
    """(index rows, next shard id). A store never built reads as empty."""
    path = index_path(store_dir)
    if not path.is_file():
        return empty_index(), 0
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if metadata.get(b"hmmr_store_format") != STORE_FORMAT.encode() or table.schema.remove_metadata() != INDEX_SCHEMA:
        raise ValueError(f"{path}: not a training store index of format {STORE_FORMAT}; delete {Path(store_dir)} "
                         f"and the next `hmmr-train` rebuilds it from the manifests")
    return table.replace_schema_metadata(None), int(metadata[b"hmmr_next_shard"])


def write_index(store_dir: Path, table: pa.Table, next_shard: int) -> None:
    """The commit of a store update: rows sorted by (video, tube), so one content has one file."""
    table = table.cast(INDEX_SCHEMA).sort_by([("video_id", "ascending"), ("tube_id", "ascending")])
    table = table.replace_schema_metadata({"hmmr_store_format": STORE_FORMAT, "hmmr_next_shard": str(next_shard)})
    write_atomic(index_path(store_dir), lambda sink: pq.write_table(table, sink, compression="zstd"))


class NpyAppender:
    """An `.npy` file written front to back without knowing its length: the header is written for a
    huge placeholder shape and rewritten with the real one at the end (numpy pads both to one size)."""

    PLACEHOLDER_ROWS = 10**15

    def __init__(self, path: Path, dtype: np.dtype, row_shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.row_shape, self.n_rows = Path(path), np.dtype(dtype), tuple(row_shape), 0
        self.header_bytes = len(self._header(self.PLACEHOLDER_ROWS))
        self.sink = open(self.path, "wb")
        self.sink.write(b"\0" * self.header_bytes)

    def _header(self, n_rows: int) -> bytes:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": (n_rows, *self.row_shape)})
        return buffer.getvalue()

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]} appended to rows of {self.row_shape}")
        self.sink.write(rows.data)
        self.n_rows += len(rows)

    def close(self) -> None:
        header = self._header(self.n_rows)
        if len(header) != self.header_bytes:  # cannot happen below PLACEHOLDER_ROWS rows; never write a torn file
            raise RuntimeError(f"{self.path}: npy header grew from {self.header_bytes} to {len(header)} bytes")
        self.sink.seek(0)
        self.sink.write(header)
        self.sink.flush()
        os.fsync(self.sink.fileno())
        self.sink.close()


def publish_shard(temporary: Path, final: Path) -> None:
    """Rename a finished shard folder into place, durably (its files were fsynced as they closed)."""
    fsync_dir(temporary)
    temporary.rename(final)
    fsync_dir(final.parent)


def remove_uncommitted(store_dir: Path, next_shard: int) -> list[Path]:
    """Delete what a crashed update left: temporary files and shard folders the index never committed.
    Call only while holding the store's lock."""
    removed = []
    shards = Path(store_dir) / SHARDS_DIR
    for path in sorted(shards.iterdir()) if shards.is_dir() else []:
        if path.name.startswith(TEMP_PREFIX) or (path.name.isdigit() and int(path.name) >= next_shard):
            shutil.rmtree(path)
            removed.append(path)
    for path in Path(store_dir).glob(f"{TEMP_PREFIX}*"):
        path.unlink()
        removed.append(path)
    return removed


class ShardArrays:
    """The memory-mapped arrays of the store's shards, opened on first use in each process (a DataLoader
    worker opens its own maps: pickling carries only the folder)."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = Path(store_dir)
        self._open: dict[int, dict[str, np.ndarray]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"store_dir": self.store_dir, "_open": {}}

    def __call__(self, shard: int) -> dict[str, np.ndarray]:
        arrays = self._open.get(shard)
        if arrays is None:
            folder = shard_dir(self.store_dir, shard)
            arrays = {path.stem: np.load(path, mmap_mode="r") for path in folder.glob("*.npy")}
            if "features" not in arrays:
                raise FileNotFoundError(f"training store shard {folder} is missing; delete {self.store_dir} and "
                                        f"the next `hmmr-train` rebuilds it from the manifests")
            self._open[shard] = arrays
        return arrays
