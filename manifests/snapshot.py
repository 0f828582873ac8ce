"""Frozen dataset versions: the set of live rows of every table at one moment, by reference, not a copy.

A snapshot is `manifests/_snapshots/<name>/`: `pieces.parquet` (table, part file, unit: which units' rows
of which committed part are in it) and `snapshot.json`, written last, that makes it exist. Parts are never
rewritten once committed (a new commit supersedes rows, it does not touch old parts), so the same
pieces read the same rows for as long as the root lives. One exception, on purpose: a video taken down
after the snapshot (a tombstone) is left out of every read of it too, and `removed_since` says which.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.atomic import write_atomic, write_json_atomic
from manifests.errors import InputError
from manifests.spec import TableSpec
from manifests.store import DatasetRoot, live_table_flushes, part_path, read_arrow
from manifests.tables import DATA_TABLES, TOMBSTONES
from manifests.tombstones import read_tombstones, removed_video_ids
from manifests.validate import check_part_schema

SNAPSHOTS_FOLDER = "_snapshots"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PIECE_COLUMNS = ["table", "part", "unit"]


class SnapshotError(InputError):
    """A snapshot that does not exist, exists already, or has a name that cannot be a folder."""


@dataclass(frozen=True)
class Snapshot:
    """name, created_at (ISO UTC), fingerprint (of its pieces), previous (the snapshot before it, if any),
    n_rows ({table: rows when taken}); pieces: a frame of (table, part, unit)."""

    name: str
    created_at: str
    fingerprint: str
    previous: str | None
    n_rows: dict[str, int]
    pieces: pd.DataFrame = field(repr=False, compare=False)

    def units(self, spec: TableSpec) -> set[str]:
        return set(self.pieces.loc[self.pieces["table"] == spec.name, "unit"])


@dataclass(frozen=True)
class DataState:
    """What a training run read: the snapshot's name (None: the live tables) and a fingerprint of the rows."""

    snapshot: str | None
    fingerprint: str


def snapshots_dir(root: DatasetRoot) -> Path:
    return root.manifests_dir / SNAPSHOTS_FOLDER


def live_pieces(root: DatasetRoot, specs: Sequence[TableSpec]) -> pd.DataFrame:
    """(table, part, unit) for every unit with live rows in `specs`, sorted: the live state, by reference.
    A unit whose live commit wrote no part of a table (a removed video) has no rows there, and no piece."""
    frames = []
    for spec in specs:
        live = live_table_flushes(root, spec)
        parts = {flush: part_path(root, spec, flush).name for flush in set(live)
                 if part_path(root, spec, flush).is_file()}
        live = live[live.isin(list(parts))]
        frames.append(pd.DataFrame({"table": spec.name, "part": live.map(parts).to_numpy(),
                                    "unit": live.index.to_numpy()}))
    pieces = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PIECE_COLUMNS)
    return pieces.astype(str).sort_values(PIECE_COLUMNS).reset_index(drop=True)


def fingerprint_of(pieces: pd.DataFrame, removed: Sequence[str] = ()) -> str:
    digest = hashlib.sha256()
    for row in pieces[PIECE_COLUMNS].itertuples(index=False):
        digest.update("\t".join(row).encode() + b"\n")
    for video_id in sorted(removed):
        digest.update(f"removed\t{video_id}\n".encode())
    return digest.hexdigest()[:16]


def take_snapshot(root: DatasetRoot, name: str) -> Snapshot:
    """Freeze the live rows of every table under `name`. Call holding the root's lock (a consistent view)."""
    if not NAME_PATTERN.match(name):
        raise SnapshotError(f"snapshot name {name!r}: use letters, digits, '_', '.', '-' (a folder name)")
    folder = snapshots_dir(root) / name
    if (folder / "snapshot.json").is_file():
        raise SnapshotError(f"snapshot {name!r} exists already ({folder}); a snapshot never changes: pick a new name")
    earlier = list_snapshots(root)
    pieces = live_pieces(root, list(DATA_TABLES.values()))
    snapshot = Snapshot(name=name, created_at=datetime.now(timezone.utc).isoformat(), fingerprint=fingerprint_of(pieces),
                        previous=earlier[-1].name if earlier else None, n_rows={}, pieces=pieces)
    n_rows = {spec.name: sum(t.num_rows for _, t in snapshot_parts(root, snapshot, spec, [spec.unit_column]))
              for spec in DATA_TABLES.values()}
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "pieces.parquet",
                 lambda sink: pq.write_table(pa.Table.from_pandas(pieces, preserve_index=False), sink))
    write_json_atomic(folder / "snapshot.json", {  # last: the snapshot exists once this is written
        "name": name, "created_at": snapshot.created_at, "fingerprint": snapshot.fingerprint,
        "previous": snapshot.previous, "n_rows": n_rows})
    return load_snapshot(root, name)


def list_snapshots(root: DatasetRoot) -> list[Snapshot]:
    """Every complete snapshot, oldest first."""
    folder = snapshots_dir(root)
    names = [p.parent.name for p in folder.glob("*/snapshot.json")] if folder.is_dir() else []
    return sorted((load_snapshot(root, n) for n in names), key=lambda s: s.created_at)


def load_snapshot(root: DatasetRoot, name: str) -> Snapshot:
    folder = snapshots_dir(root) / name
    if not NAME_PATTERN.match(name) or not (folder / "snapshot.json").is_file():
        there = sorted(p.parent.name for p in snapshots_dir(root).glob("*/snapshot.json"))
        raise SnapshotError(f"no snapshot {name!r} in {root.path}; snapshots: {there or 'none'} "
                            "(make one with `hmmr-dataset snapshot NAME`)")
    record = json.loads((folder / "snapshot.json").read_text())
    pieces = pq.read_table(folder / "pieces.parquet").to_pandas()
    return Snapshot(name=record["name"], created_at=record["created_at"], fingerprint=record["fingerprint"],
                    previous=record["previous"], n_rows=record["n_rows"], pieces=pieces)


def removed_since(root: DatasetRoot, snapshot: Snapshot) -> pd.DataFrame:
    """The tombstones of videos that had rows in `snapshot`: taken down after it, left out of its reads."""
    tombstones = read_tombstones(root)
    in_snapshot = set(snapshot.pieces["unit"])
    return tombstones[tombstones["video_id"].isin(in_snapshot)].reset_index(drop=True)


def snapshot_parts(root: DatasetRoot, snapshot: Snapshot, spec: TableSpec, columns: Sequence[str] | None = None,
                   units: Sequence[str] | None = None) -> Iterator[tuple[str, pa.Table]]:
    """(part name, its rows in `snapshot`) for each part of `spec` the snapshot holds rows of, less the rows
    of videos removed since: what an export writes, part by part, and what `read_at` concatenates."""
    wanted = list(columns) if columns is not None else spec.columns
    pieces = snapshot.pieces[snapshot.pieces["table"] == spec.name]
    if units is not None:
        pieces = pieces[pieces["unit"].isin(set(units))]
    removed = removed_video_ids(root)
    # Rows of a video removed since are left out wherever a video id says whose they are (the entries of
    # a query that listed it too); the tombstones themselves stay: they are the record of the removal.
    by_video = "video_id" in spec.columns and spec is not TOMBSTONES and bool(removed)
    read_columns = list(dict.fromkeys([*wanted, spec.unit_column, *(["video_id"] if by_video else [])]))
    for part, group in pieces.groupby("part", sort=True):
        path = root.table_dir(spec) / part
        if not path.is_file():
            raise SnapshotError(f"snapshot {snapshot.name!r}: its part {path} is gone; the root was edited by hand")
        check_part_schema(spec, pq.read_schema(path), str(path))
        table = pq.read_table(path, columns=read_columns, schema=spec.schema)
        table = table.filter(pc.is_in(table[spec.unit_column], pa.array(list(group["unit"]), pa.string())))
        if by_video:
            table = table.filter(pc.invert(pc.is_in(table["video_id"], pa.array(sorted(removed), pa.string()))))
        yield part, table.select(wanted)


def read_at(root: DatasetRoot, spec: TableSpec, columns: Sequence[str] | None = None,
            units: Sequence[str] | None = None, snapshot: Snapshot | None = None) -> pd.DataFrame:
    """The rows of a table: its live rows (`snapshot` None, as manifests.read_table), or exactly the rows
    of `snapshot` less the videos removed since. The one hook readers (the trainer) use to honour
    `--snapshot`."""
    if snapshot is None:
        return read_arrow(root, spec, columns, units).to_pandas()
    wanted = list(columns) if columns is not None else spec.columns
    tables = [table for _, table in snapshot_parts(root, snapshot, spec, wanted, units)]
    return (pa.concat_tables(tables) if tables else spec.schema.empty_table().select(wanted)).to_pandas()


def data_state(root: DatasetRoot, specs: Sequence[TableSpec], snapshot: Snapshot | None) -> DataState:
    """What a reader of `specs` sees now: the snapshot and its removals, or the live state's fingerprint."""
    if snapshot is None:
        return DataState(None, fingerprint_of(live_pieces(root, specs)))
    removed = sorted(removed_video_ids(root) & set(snapshot.pieces["unit"]))
    return DataState(snapshot.name, fingerprint_of(snapshot.pieces, removed))
