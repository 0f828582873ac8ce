"""The status table every stage writes: one row per finished unit attempt, the commit's last word.

A unit counts as done only once its status row is written (manifests.commit); readers trust data parts
through the status rows that name their flush (manifests.store).
"""
from __future__ import annotations

import pyarrow as pa

from manifests.columns import TIMESTAMP, optional, required
from manifests.spec import TableSpec

STATUS_OK, STATUS_FAILED, STATUS_SKIPPED = "ok", "failed", "skipped"
UNIT_ID = "unit_id"  # the status column naming a unit (a payload's `UnitPayload.unit_id`)
STATUS_FOLDER = "_status"  # manifests/_status/<stage>/ holds each stage's status parts
STATUS_VALUES = (STATUS_OK, STATUS_FAILED, STATUS_SKIPPED)


def status_spec(stage: str) -> TableSpec:
    """The status table of one stage: one row per finished unit attempt (`_status/<stage>/`)."""
    return TableSpec(
        name=f"{STATUS_FOLDER}/{stage}",
        schema=pa.schema([
            required(UNIT_ID, pa.string()),
            required("stage", pa.string()),
            required("version", pa.string()),
            required("status", pa.string()),
            optional("reason", pa.string()),
            optional("message", pa.string()),
            required("run_id", pa.string()),
            required("flush_id", pa.string()),
            required("finished_at", TIMESTAMP),
            required("duration_s", pa.float64()),
        ]),
        key=(UNIT_ID, "flush_id"),
        unit_column=UNIT_ID,
        producer=stage,
        units={
            "status": "ok | failed | skipped",
            "reason": "failed: the error type; skipped: why (duplicate, too short, ...)",
            "flush_id": "the flush whose data parts this row commits",
            "duration_s": "seconds the unit took on its worker",
        },
    )
