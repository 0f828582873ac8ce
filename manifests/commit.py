"""The commit: how finished units become rows that readers see (DESIGN.md "The dataset root").

A flush writes one data part per output table holding the rows of its `ok` units, then the stage's status
part for the same flush id: one row per unit, whatever its status. That status part is the commit; a data
part without one is an orphan, which readers ignore and the next run deletes (manifests.store).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import pyarrow as pa

from manifests.spec import TableSpec
from manifests.store import DatasetRoot, write_part
from manifests.status_table import STATUS_OK, UNIT_ID, status_spec
from manifests.validate import to_table

# A test hook, called with the name of each point a flush passes ("after-data-part", "after-status-part"):
# the crash tests kill the process there to prove that a crash at any point loses nothing committed.
CommitHook = Callable[[str], None]


@dataclass
class UnitOutcome:
    """What came back from one unit: its status, its validated tables, and how long it took.

    status: ok | failed | skipped; reason: the error type or skip reason; message: the human explanation.
    tables: {table name: table matching its spec} for an ok unit.
    """

    unit_id: str
    status: str
    tables: dict[str, pa.Table] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None
    duration_s: float = 0.0
    finished_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    n_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_bytes = sum(t.nbytes for t in self.tables.values())  # on the worker, where it is made

    # From worker to client each table travels as one Arrow IPC stream. Pickled as Arrow objects, a
    # one-row table became a dozen out-of-band frames in Dask's protocol: ~10% of a harvest worker's time.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "tables": {name: _ipc_stream(table) for name, table in self.tables.items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        tables = {name: pa.ipc.open_stream(stream).read_all() for name, stream in state["tables"].items()}
        self.__dict__.update(state, tables=tables)


def _ipc_stream(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def commit(root: DatasetRoot, stage: str, version: str, outputs: Sequence[TableSpec], run_id: str, flush_id: str,
           outcomes: Sequence[UnitOutcome], hook: CommitHook | None = None) -> None:
    """Write the data parts of the ok units, then the status part that commits them and every other unit.

    Call only while holding the dataset lock (manifests.lock).
    """
    passed = hook or (lambda point: None)
    for spec in outputs:
        tables = [o.tables[spec.name] for o in outcomes if o.status == STATUS_OK and spec.name in o.tables]
        if tables:
            write_part(root, spec, pa.concat_tables(tables), flush_id)
            passed("after-data-part")
    write_part(root, status_spec(stage), status_table(stage, version, run_id, flush_id, outcomes), flush_id)
    passed("after-status-part")


def status_table(stage: str, version: str, run_id: str, flush_id: str, outcomes: Sequence[UnitOutcome]) -> pa.Table:
    """The status rows of one flush: one per unit."""
    n = len(outcomes)
    return to_table(status_spec(stage), {
        UNIT_ID: [o.unit_id for o in outcomes],
        "stage": [stage] * n,
        "version": [version] * n,
        "status": [o.status for o in outcomes],
        "reason": [o.reason for o in outcomes],
        "message": [o.message for o in outcomes],
        "run_id": [run_id] * n,
        "flush_id": [flush_id] * n,
        "finished_at": [o.finished_at for o in outcomes],
        "duration_s": [o.duration_s for o in outcomes],
    }, source=f"status of flush {flush_id}")
