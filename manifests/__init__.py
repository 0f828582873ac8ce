"""The dataset's tables: schemas, validation, atomic parts, the commit-aware reader, the root lock.

This package is the only code that knows what a Parquet table looks like or touches its files.
"""
from manifests.errors import ConfigError, DatasetLocked, InputError, ManifestError, SchemaError
from manifests.lock import DatasetLock
from manifests.spec import TableSpec
from manifests.split import split_of
from manifests.status import SkipUnit, UnitPayload, UnitResult
from manifests.store import (
    DatasetRoot,
    latest_status,
    live_flushes,
    live_table_flushes,
    open_dataset,
    read_arrow,
    read_status,
    read_table,
    stages_with_status,
    write_part,
)
from manifests.tables import (
    DATA_TABLES,
    DETECTIONS,
    ENTRIES,
    FEATURES,
    SHOTS,
    SOURCES,
    TARGETS,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_SKIPPED,
    TRACKS,
    TUBES,
    UNIT_ID,
    VIDEOS,
    status_spec,
    tube_id_of,
    video_id_of_tube,
)
from manifests.validate import to_table

__all__ = [
    "ConfigError", "DATA_TABLES", "DETECTIONS", "ENTRIES", "DatasetLock", "DatasetLocked", "DatasetRoot", "FEATURES",
    "InputError", "ManifestError", "SHOTS", "SOURCES", "STATUS_FAILED", "TARGETS", "STATUS_OK", "STATUS_SKIPPED",
    "SchemaError", "SkipUnit", "TRACKS", "TUBES", "TableSpec", "UNIT_ID", "UnitPayload", "UnitResult", "VIDEOS",
    "latest_status", "live_flushes", "live_table_flushes", "open_dataset", "read_arrow", "read_status", "read_table",
    "split_of", "stages_with_status", "status_spec", "to_table", "tube_id_of", "video_id_of_tube", "write_part",
]
