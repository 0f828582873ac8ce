"""Where tables live under a dataset root, and the only code that reads or writes their parts.

The commit protocol (DESIGN.md "The dataset root"; written by manifests.commit):
  1. a flush writes one data part per output table, `part-<flush_id>.parquet`, each to a temporary
     name first and renamed into place;
  2. then it writes the stage's status part for the same flush id. That status part is the commit.
A data part whose flush has no status rows is an orphan (a crash between 1 and 2): readers ignore it
and the next run of the stage deletes it. When a unit is done again (a new stage version, or
--retry-failed), only its rows from its latest final flush are live; older rows are filtered out.
So every reader sees whole units, and a re-run after a crash gives exactly the rows of a clean run.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from manifests.atomic import TEMP_PREFIX, write_atomic
from manifests.errors import ManifestError
from manifests.spec import TableSpec
from manifests.status_table import STATUS_FAILED, STATUS_OK, STATUS_FOLDER, STATUS_SKIPPED, UNIT_ID, status_spec
from manifests.validate import check_part_schema

PART_PATTERN = re.compile(r"^part-(?P<flush_id>[A-Za-z0-9_.-]+)\.parquet$")


@dataclass(frozen=True)
class DatasetRoot:
    """The folder that holds one growing dataset collection."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).expanduser().resolve())

    @property
    def media_dir(self) -> Path:
        return self.path / "media"

    @property
    def manifests_dir(self) -> Path:
        return self.path / "manifests"

    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    def table_dir(self, spec: TableSpec) -> Path:
        return self.manifests_dir / spec.name

    def status_dir(self, stage: str) -> Path:
        return self.table_dir(status_spec(stage))


def part_path(root: DatasetRoot, spec: TableSpec, flush_id: str) -> Path:
    return root.table_dir(spec) / f"part-{flush_id}.parquet"


def flush_id_of(path: Path) -> str | None:
    match = PART_PATTERN.match(path.name)
    return match.group("flush_id") if match else None


def list_parts(root: DatasetRoot, spec: TableSpec) -> list[Path]:
    """Every part file of a table (committed or not), oldest flush first."""
    folder = root.table_dir(spec)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if flush_id_of(p)), key=lambda p: p.name)


def write_part(root: DatasetRoot, spec: TableSpec, table: pa.Table, flush_id: str) -> Path:
    """Write one part atomically: a temporary file, fsync, then rename into place.

    The table must already match the spec (use `manifests.to_table`); this only re-checks the schema.
    """
    check_part_schema(spec, table.schema, f"<flush {flush_id}>")
    folder = root.table_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(part_path(root, spec, flush_id), lambda sink: pq.write_table(table, sink, compression="zstd"))


# ---------------------------------------------------------------- status


def read_status(root: DatasetRoot, stage: str, columns: Sequence[str] | None = None) -> pa.Table:
    """All status rows of a stage (every attempt), as written. Status parts are never orphans."""
    spec = status_spec(stage)
    parts = list_parts(root, spec)
    if not parts:
        return spec.schema.empty_table() if columns is None else spec.schema.empty_table().select(list(columns))
    tables = []
    for path in parts:
        check_part_schema(spec, pq.read_schema(path), str(path))
        tables.append(pq.read_table(path, columns=list(columns) if columns else None))
    return pa.concat_tables(tables)


def stages_with_status(root: DatasetRoot) -> list[str]:
    """The names of the stages that have written status rows under `root`, sorted."""
    folder = root.manifests_dir / STATUS_FOLDER
    return sorted(path.name for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []


def latest_status(root: DatasetRoot, stage: str, version: str | None = None) -> pd.DataFrame:
    """One row per unit: its latest attempt (at `version`, when given), indexed by unit_id."""
    table = read_status(root, stage)
    if version is not None:
        table = table.filter(pc.equal(table["version"], version))
    frame = table.to_pandas()
    if frame.empty:
        return frame.set_index(UNIT_ID)
    frame = frame.sort_values("flush_id", kind="stable")
    return frame.drop_duplicates(UNIT_ID, keep="last").set_index(UNIT_ID)


def unit_keys_with_status(root: DatasetRoot, stage: str, version: str, statuses: Iterable[str]) -> pa.Array:
    """Unit ids that have a status row in `statuses` at `version` (vectorised: used to plan a million units)."""
    table = read_status(root, stage, columns=[UNIT_ID, "version", "status"])
    mask = pc.and_(pc.equal(table["version"], version), pc.is_in(table["status"], pa.array(list(statuses))))
    return pc.unique(table.filter(mask)[UNIT_ID]) if table.num_rows else pa.array([], pa.string())


def units_done_at(root: DatasetRoot, stage: str, version: str) -> pa.Array:
    """Unit ids whose latest final attempt (ok or skipped: the one their live rows come from) is at `version`.
    A unit done at this version and redone at another since holds the other's rows: it is not done here."""
    table = read_status(root, stage, columns=[UNIT_ID, "version", "status", "flush_id"])
    final = table.filter(pc.is_in(table["status"], pa.array([STATUS_OK, STATUS_SKIPPED])))
    if not final.num_rows:
        return pa.array([], pa.string())
    if pc.count_distinct(final["version"]).as_py() == 1:  # the usual case: no other version to have redone one
        return pc.unique(final.filter(pc.equal(final["version"], version))[UNIT_ID])
    grouped = final.group_by(UNIT_ID).aggregate([("flush_id", "max")])
    latest = pa.table({UNIT_ID: grouped[UNIT_ID], "flush_id": grouped["flush_id_max"]})
    last = final.join(latest, keys=[UNIT_ID, "flush_id"], join_type="inner")
    return pc.unique(last.filter(pc.equal(last["version"], version))[UNIT_ID])


def live_flushes(root: DatasetRoot, stage: str) -> pd.Series:
    """For each unit, the flush id that holds its live rows: its latest `ok` or `skipped` attempt.

    Units whose latest final attempt is `skipped` have no live rows (their flush is dropped here).
    A later `failed` attempt does not hide earlier good rows.
    """
    return _live_flushes_of(read_status(root, stage, columns=[UNIT_ID, "status", "flush_id"]))


def live_table_flushes(root: DatasetRoot, spec: TableSpec) -> pd.Series:
    """For each unit, the flush that holds its live rows of `spec`, whichever stage committed them (the
    table's producer or an importer: e.g. tubes from `tracking` or from `import`)."""
    return _live_flushes_of(_status_of_producers(root, spec))


def _live_flushes_of(status: pa.Table) -> pd.Series:
    final = status.filter(pc.is_in(status["status"], pa.array([STATUS_OK, STATUS_SKIPPED]))).to_pandas()
    if final.empty:
        return pd.Series([], dtype=object, name="flush_id")
    final = final.sort_values("flush_id", kind="stable").drop_duplicates(UNIT_ID, keep="last")
    ok = final[final["status"] == STATUS_OK]
    return pd.Series(ok["flush_id"].to_numpy(), index=ok[UNIT_ID].to_numpy(), name="flush_id")


def remove_orphan_parts(root: DatasetRoot, stage: str, outputs: Sequence[TableSpec]) -> list[Path]:
    """Delete data parts of `stage`'s tables whose flush was never committed, and temp files.

    A part is committed when any stage that writes its table (producer or importer) has status rows for
    its flush. Call only while holding the dataset lock: a part being written by a live run also has no
    status.
    """
    committed_by_stage = {name: set(pc.unique(read_status(root, name, columns=["flush_id"])["flush_id"]).to_pylist())
                          for name in {stage, *(s for spec in outputs for s in spec.producers)}}
    removed = []
    for spec in (*outputs, status_spec(stage)):
        folder = root.table_dir(spec)
        if not folder.is_dir():
            continue
        committed = set().union(*(committed_by_stage[name] for name in spec.producers if name in committed_by_stage))
        for path in folder.iterdir():
            flush_id = flush_id_of(path)
            is_temp = path.name.startswith(TEMP_PREFIX)
            if is_temp or (flush_id is not None and spec in outputs and flush_id not in committed):
                path.unlink()
                removed.append(path)
    return removed


def failed_units(root: DatasetRoot, stage: str, limit: int = 20) -> pd.DataFrame:
    """The latest failures (unit, reason, message) of a stage whose latest attempt failed."""
    latest = latest_status(root, stage)
    if latest.empty:
        return latest
    return latest[latest["status"] == STATUS_FAILED].sort_values("finished_at").tail(limit)


# ---------------------------------------------------------------- data tables


def _status_of_producers(root: DatasetRoot, spec: TableSpec) -> pa.Table:
    """The status rows (unit, status, flush) of every stage that commits parts of `spec`."""
    columns = [UNIT_ID, "status", "flush_id"]
    return pa.concat_tables([read_status(root, stage, columns=columns) for stage in spec.producers])


def live_unit_flushes(root: DatasetRoot, spec: TableSpec) -> pd.Series:
    """For each unit of a table, the flush whose part holds its live rows, across the producer and every
    importer (`live_flushes` asks one stage). Reads only status tables: a derived store (the training
    store) compares these ids with the ones it was built from to know what changed, without data."""
    return _live_flushes_of(_status_of_producers(root, spec))


def _live_pieces(root: DatasetRoot, spec: TableSpec) -> list[tuple[Path, pa.Array | None]]:
    """(part, units to keep or None for 'the whole part') for each part holding live rows."""
    status = _status_of_producers(root, spec)
    live = _live_flushes_of(status)
    if live.empty:
        return []
    units_by_flush = live.groupby(live.to_numpy()).groups  # flush_id -> index of its live unit ids
    ok = status.filter(pc.equal(status["status"], STATUS_OK)).to_pandas()
    ok_counts = ok.groupby("flush_id")[UNIT_ID].nunique().to_dict()
    pieces = []
    for path in list_parts(root, spec):
        flush_id = flush_id_of(path)
        keep = units_by_flush.get(flush_id)
        if keep is None:
            continue  # orphan, or every unit of it was done again later
        check_part_schema(spec, pq.read_schema(path), str(path))
        whole = len(keep) == ok_counts.get(flush_id, -1)
        pieces.append((path, None if whole else pa.array(list(keep), pa.string())))
    return pieces


def read_arrow(
    root: DatasetRoot,
    spec: TableSpec,
    columns: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
) -> pa.Table:
    """The live rows of a table (whole units only), optionally only some columns and units."""
    wanted = list(columns) if columns is not None else spec.columns
    unknown = [c for c in wanted if c not in spec.columns]
    if unknown:
        raise ManifestError(f"table {spec.name!r} has no columns {unknown}; it has {spec.columns}")
    read_columns = wanted if spec.unit_column in wanted else [*wanted, spec.unit_column]
    unit_filter = None if units is None else pa.array(list(units), pa.string())
    tables = []
    for path, keep in _live_pieces(root, spec):
        table = pq.read_table(path, columns=read_columns, schema=spec.schema)
        for allowed in (keep, unit_filter):
            if allowed is not None:
                table = table.filter(pc.is_in(table[spec.unit_column], allowed))
        tables.append(table.select(wanted))
    if not tables:
        return spec.schema.empty_table().select(wanted)
    return pa.concat_tables(tables)


def read_part(spec: TableSpec, path: Path, units: Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of `units` in one part file (schema-checked), e.g. the part `live_flushes` names for a unit.

    Lets a worker read its unit's rows without reading the stage's whole status table.
    """
    wanted = list(columns) if columns is not None else spec.columns
    check_part_schema(spec, pq.read_schema(path), str(path))
    table = pq.read_table(path, columns=sorted(set(wanted) | {spec.unit_column}), schema=spec.schema,
                          filters=[(spec.unit_column, "in", list(units))])
    return table.select(wanted)


def read_table(
    root: DatasetRoot,
    spec: TableSpec,
    columns: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The live rows of a table as pandas (see `read_arrow`)."""
    return read_arrow(root, spec, columns, units).to_pandas()


def open_dataset(root: DatasetRoot, spec: TableSpec) -> ds.Dataset:
    """The live rows of a big table as a lazy `pyarrow.dataset` (scan, filter, project without loading it).

    Whole live parts are scanned from disk; the rare part with superseded units is filtered in memory.
    """
    pieces = _live_pieces(root, spec)
    whole = [str(path) for path, keep in pieces if keep is None]
    datasets = [ds.dataset(whole, schema=spec.schema, format="parquet")] if whole else []
    for path, keep in pieces:
        if keep is not None:
            table = pq.read_table(path, schema=spec.schema)
            datasets.append(ds.dataset(table.filter(pc.is_in(table[spec.unit_column], keep))))
    if not datasets:
        return ds.dataset(spec.schema.empty_table())
    return datasets[0] if len(datasets) == 1 else ds.dataset(datasets)
