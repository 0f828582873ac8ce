"""The record of a stage run: runs/<run_id>/config.json, stats.json and log, and the stats the CLIs print."""
from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from manifests.atomic import write_json_atomic as write_plain_json_atomic
from manifests.commit import UnitOutcome
from manifests.tables import STATUS_OK, STATUS_SKIPPED

OUR_LOGGERS = ("pipelines", "manifests", "media", "harvest", "pseudolabel", "tracking", "train")
MAX_FAILURES_KEPT = 20


@dataclass(frozen=True)
class UnitFailure:
    """One failed unit of a run: its id, the error type and the message (as its status row has them)."""

    unit_id: str
    reason: str
    message: str


@dataclass
class RunStats:
    """The summary of one stage run, written to stats.json and printed by the CLIs."""

    stage: str
    version: str
    run_id: str
    run_dir: str
    n_input: int = 0
    n_already_done: int = 0
    n_failed_not_retried: int = 0
    n_due: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    n_flushes: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    failures: list[UnitFailure] = field(default_factory=list)
    wall_s: float = 0.0
    units_per_s: float = 0.0

    def add(self, outcome: UnitOutcome) -> None:
        """Count one finished unit: its status, its reason, its counters, and the first failures' messages."""
        reason = outcome.reason or "?"
        if outcome.status == STATUS_OK:
            self.n_ok += 1
        elif outcome.status == STATUS_SKIPPED:
            self.n_skipped += 1
            self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + 1
        else:
            self.n_failed += 1
            self.failed_by_reason[reason] = self.failed_by_reason.get(reason, 0) + 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append(UnitFailure(outcome.unit_id, outcome.reason or "", outcome.message or ""))
        for name, value in outcome.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value

    def finish(self, wall_s: float) -> None:
        self.wall_s = wall_s
        self.units_per_s = (self.n_ok + self.n_failed + self.n_skipped) / wall_s if wall_s else 0.0

    def summary(self) -> str:
        if self.n_due == 0:
            line = f"{self.stage}: nothing to do ({self.n_already_done} of {self.n_input} units already done"
            if self.n_failed_not_retried:
                line += f", {self.n_failed_not_retried} failed earlier: pass --retry-failed to retry them"
            return line + ")"
        line = (f"{self.stage}: {self.n_ok} ok, {self.n_failed} failed, {self.n_skipped} skipped of {self.n_due} due "
                f"({self.n_already_done} already done) in {self.wall_s:.1f} s")
        if self.n_failed_not_retried:
            line += f"; {self.n_failed_not_retried} earlier failures not retried (--retry-failed)"
        return line


def new_run_id(stage: str) -> str:
    """Sortable by start time, unique across hosts."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%f}-{stage}-{secrets.token_hex(3)}"


def write_json_atomic(path: Path, data: Any) -> None:
    """`data` (dataclasses, mappings, sequences, plain values; anything else as its str) as JSON, atomically."""
    write_plain_json_atomic(path, _jsonable(data))


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Copy our packages' INFO+ records (and everyone's warnings) into the run folder's log meanwhile."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    for name in OUR_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        yield
    finally:
        for name in OUR_LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        handler.close()
