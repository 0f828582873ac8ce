"""Planning a stage run: which of its input units are due, given the status rows already committed."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Collection, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from manifests import DatasetRoot
from manifests.status import UnitPayload
from manifests.store import unit_keys_with_status, units_done_at
from manifests.tables import STATUS_FAILED
from pipelines.stage import Stage


@dataclass(frozen=True)
class Plan:
    """due: the units to run, in input order; n_already_done: units ok or skipped at this version;
    n_failed_not_retried: units whose latest attempt failed, left out without --retry-failed."""

    due: list[UnitPayload]
    n_already_done: int
    n_failed_not_retried: int


def plan_units(root: DatasetRoot, stage: Stage, units: Sequence[UnitPayload], retry_failed: bool,
               redo: Collection[str] = frozenset(), limit: int = 0) -> Plan:
    """The input units minus those whose latest `ok`/`skipped` status is at this stage version (and minus
    `failed` ones unless `retry_failed`), at most `limit` of them (0 = all). Vectorised: a million keys take seconds.

    redo: units done at this version whose inputs have changed since; they are due again.
    """
    ids = pa.array([unit.unit_id for unit in units], pa.string())
    if pc.count_distinct(ids).as_py() != len(ids):
        duplicate = next(unit_id for unit_id, count in Counter(ids.to_pylist()).items() if count > 1)
        raise ValueError(f"stage {stage.name!r}: unit id {duplicate!r} appears more than once in the input")
    done = units_done_at(root, stage.name, stage.version)  # not units another version redid since
    is_done = pc.is_in(ids, value_set=done).to_numpy(zero_copy_only=False)
    if redo:
        is_done &= ~pc.is_in(ids, value_set=pa.array(sorted(redo), pa.string())).to_numpy(zero_copy_only=False)
    failed = unit_keys_with_status(root, stage.name, stage.version, (STATUS_FAILED,))
    is_failed = pc.is_in(ids, value_set=failed).to_numpy(zero_copy_only=False) & ~is_done
    is_due = ~is_done if retry_failed else ~is_done & ~is_failed
    due = [unit for unit, wanted in zip(units, is_due.tolist()) if wanted]
    return Plan(due=due[:limit] if limit else due, n_already_done=int(is_done.sum()),
                n_failed_not_retried=0 if retry_failed else int(is_failed.sum()))
