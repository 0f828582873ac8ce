"""What a table is: a pyarrow schema, its key, the stage unit its rows belong to, and who writes it.

A `TableSpec` is pure data. `manifests.validate` checks frames against it and `manifests.store`
reads and writes its parts; nothing else in the code base needs to know a table's layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pyarrow as pa


@dataclass(frozen=True)
class TableSpec:
    """One manifest table.

    name: folder name under `<root>/manifests/`.
    schema: the exact pyarrow schema of every part (column order included).
    key: columns that identify a row; no two live rows share a key.
    unit_column: the column naming the stage unit a row belongs to (`video_id`, `tube_id`). A unit's
        rows are committed, replaced and filtered together.
    producer: the stage whose status rows commit this table's parts.
    importers: other stages that may commit rows of this table for units of their own: an import of a
        published dataset (stage `import`), a removal. A unit's live rows are those of its latest `ok`
        attempt across the producer and every importer (flush ids sort by commit time), unless a later
        attempt of any of them `skipped` it.
    units: human-readable unit and shape of each column, for `--help`, errors and the README.
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    unit_column: str
    producer: str
    units: Mapping[str, str] = field(default_factory=dict)
    importers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = set(self.schema.names)
        for column in (*self.key, self.unit_column):
            if column not in names:
                raise ValueError(f"table {self.name!r}: key/unit column {column!r} is not in its schema")
        unknown = set(self.units) - names
        if unknown:
            raise ValueError(f"table {self.name!r}: units given for unknown columns {sorted(unknown)}")

    @property
    def producers(self) -> tuple[str, ...]:
        """Every stage whose status commits parts of this table: the producer first, then the importers."""
        return (self.producer, *self.importers)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def field(self, column: str) -> pa.Field:
        return self.schema.field(column)


def fixed_list(value_type: pa.DataType, size: int) -> pa.DataType:
    """A fixed-size list type: the on-disk form of a per-row vector (keypoints, bbox, feature)."""
    return pa.list_(value_type, size)


def fixed_size_of(data_type: pa.DataType) -> int | None:
    """The length of a fixed-size list type, or None for any other type."""
    if pa.types.is_fixed_size_list(data_type):
        return data_type.list_size
    return None
