"""Typed records of table rows: what a stage's work function returns, one record type per table.

A `Rows` record holds a unit's rows of one table column by column: one field per column, named and ordered
as the table's schema, each a sequence or array of the same length (a fixed-size list column may also be an
(n, K) or (n, J, 3) array, a list-of-vectors column a list of (n_i, K) arrays). Work functions build them
with keyword arguments, so a misspelt column fails in the type checker or at the call, and the field names
are checked against the schema when this module is imported: a table and its record cannot drift apart.
`to_table` validates the values against the spec (manifests.validate).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Sequence

import pyarrow as pa

from manifests.spec import TableSpec
from manifests.tables import (DETECTIONS, ENTRIES, FEATURES, SHOTS, SOURCES, TARGETS, TOMBSTONES, TRACKS, TUBES,
                              VIDEOS)
from manifests.validate import to_table

Column = Any  # a sequence, numpy array or Arrow array of one column's values, one per row
Vectors = Any  # per row, a vector (or, for list-of-vector columns, an (n_i, K) array): a list or a 2-D/3-D array


@dataclass(frozen=True, eq=False)
class Rows:
    """Base class: rows of the table `SPEC`, one field per column."""

    SPEC: ClassVar[TableSpec]

    def to_table(self, source: str = "rows") -> pa.Table:
        """The rows as a table with exactly `SPEC.schema`; raises SchemaError naming `source` and the column."""
        return to_table(self.SPEC, vars(self), source)

    @property
    def n_rows(self) -> int:
        return len(getattr(self, fields(self)[0].name))


@dataclass(frozen=True, eq=False)
class EntryRows(Rows):
    SPEC = ENTRIES
    query_id: Sequence[str]
    query: Sequence[str]
    dataset: Sequence[str]
    position: Column
    video_id: Sequence[str]
    url: Sequence[str]
    webpage_url: Sequence[str | None]
    extractor: Sequence[str]
    title: Sequence[str | None]
    enumerated_at: Column


@dataclass(frozen=True, eq=False)
class VideoRows(Rows):
    SPEC = VIDEOS
    video_id: Sequence[str]
    dataset: Sequence[str]
    query: Sequence[str]
    url: Sequence[str]
    webpage_url: Sequence[str | None]
    media_path: Sequence[str]
    sha256: Sequence[str]
    n_bytes: Column
    duration_s: Column
    fps: Column
    width: Column
    height: Column
    codec: Sequence[str]
    uploader: Sequence[str | None]
    upload_date: Sequence[str | None]
    license: Sequence[str | None]
    title: Sequence[str | None]
    harvested_at: Column
    split: Sequence[str]


@dataclass(frozen=True, eq=False)
class ShotRows(Rows):
    SPEC = SHOTS
    video_id: Sequence[str]
    shot: Column
    start_frame: Column
    end_frame: Column
    fps: Column


@dataclass(frozen=True, eq=False)
class DetectionRows(Rows):
    SPEC = DETECTIONS
    video_id: Sequence[str]
    frame: Column
    person: Column
    keypoints: Vectors
    backend: Sequence[str]
    backend_version: Sequence[str]


@dataclass(frozen=True, eq=False)
class TrackRows(Rows):
    SPEC = TRACKS
    video_id: Sequence[str]
    frame: Column
    person: Column
    track_id: Column
    shot: Column


@dataclass(frozen=True, eq=False)
class TubeRows(Rows):
    SPEC = TUBES
    tube_id: Sequence[str]
    video_id: Sequence[str]
    dataset: Sequence[str]
    split: Sequence[str]
    track_id: Column
    shot: Column
    start_frame: Column
    end_frame: Column
    n_frames: Column
    fps: Column
    keypoints: Vectors
    bbox: Vectors
    mean_confidence: Column
    mean_visible_joints: Column


@dataclass(frozen=True, eq=False)
class FeatureRows(Rows):
    SPEC = FEATURES
    tube_id: Sequence[str]
    video_id: Sequence[str]
    view: Column
    n_frames: Column
    bbox: Vectors
    flipped: Sequence[bool | None]  # the view's crops were mirrored (None: not recorded, i.e. not mirrored)
    features: Vectors
    extractor: Sequence[str]
    extractor_version: Sequence[str]
    tubes_flush: Sequence[str]


@dataclass(frozen=True, eq=False)
class TargetRows(Rows):
    SPEC = TARGETS
    tube_id: Sequence[str]
    video_id: Sequence[str]
    keypoints: Vectors
    joints_3d: Sequence[Any]  # per row an (n, K) array, or None: no 3D
    pose: Sequence[Any]  # per row an (n, 72) array, or None: no SMPL
    shape: Sequence[Any]  # per row a (10,) vector, or None
    source: Sequence[str]


@dataclass(frozen=True, eq=False)
class SourceRows(Rows):
    SPEC = SOURCES
    video_id: Sequence[str]
    source_id: Sequence[str]
    list_name: Sequence[str]
    dataset: Sequence[str]
    url: Sequence[str]
    split: Sequence[str | None]
    start_frame: Sequence[int | None]
    end_frame: Sequence[int | None]
    metadata: Sequence[str | None]
    recorded_at: Column


@dataclass(frozen=True, eq=False)
class TombstoneRows(Rows):
    SPEC = TOMBSTONES
    video_id: Sequence[str]
    url: Sequence[str]
    webpage_url: Sequence[str | None]
    reason: Sequence[str]
    selector: Sequence[str]
    removed_at: Column


def check_rows_type(rows_type: type[Rows]) -> None:
    """Refuse a record type whose fields are not exactly its table's columns, in order."""
    names = [f.name for f in fields(rows_type)]
    if names != rows_type.SPEC.columns:
        raise TypeError(f"{rows_type.__name__} has fields {names}; table {rows_type.SPEC.name!r} has columns "
                        f"{rows_type.SPEC.columns}: make them the same")


for _rows_type in (EntryRows, VideoRows, ShotRows, DetectionRows, TrackRows, TubeRows, FeatureRows, TargetRows,
                   SourceRows, TombstoneRows):
    check_rows_type(_rows_type)
