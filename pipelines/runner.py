"""The one generic stage runner: plan, submit with backpressure, collect, flush, record status.

A `Stage` is a per-unit work function plus its output tables and resources. `run_stage` makes it an
incremental, crash-safe job on a Dask cluster:
  plan     input units minus units with an `ok`/`skipped` status at this stage version (and minus
           `failed` ones unless retry_failed);
  submit   at most `max_in_flight` tasks at a time, each of `units_per_task` units (a million-unit plan
           never floods the scheduler);
  collect  as completed; every unit ends as ok / failed (error type + message) / skipped (reason);
  flush    every N units, T seconds or B bytes: data parts first, then the status part that commits
           them (see manifests.store);
  record   runs/<run_id>/config.json, stats.json and log.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import time
import traceback
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from distributed import Client, KilledWorker, WorkerPlugin, as_completed, get_worker
from tqdm import tqdm

from manifests import DatasetLock, DatasetRoot, SkipUnit, TableSpec, status_spec, to_table, write_part
from manifests.atomic import write_json_atomic as write_plain_json_atomic
from manifests.status import UnitResult, first_line, printable
from manifests.store import remove_orphan_parts, unit_keys_with_status
from manifests.tables import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED
from pipelines.cluster import require_resources, worker_threads

log = logging.getLogger(__name__)

UNIT_ID = "unit_id"
MAX_MESSAGE_CHARS = 4000
CRASH_ENV = "HMMR_CRASH_AT"  # test hook: "<point>:<n>" kills this process at the n-th pass of <point>


@dataclass(frozen=True)
class Stage:
    """A unit of work and where its results go.

    name, version: the status key; bumping `version` makes every unit due again.
    outputs: the tables the work fills (their `producer` must be this stage's name).
    work: work(payload, context) -> {table name: frame} or UnitResult; raise SkipUnit to skip.
        Pure: reads its inputs from the payload, writes nothing; must be importable by workers.
    resources: Dask worker resources per unit, e.g. {"GPU": 1}.
    make_context: builds the per-worker state (a pose model) once per worker, lazily; None = no state.
    config: the stage's resolved config dataclass, recorded in config.json.
    concurrency_key, max_in_flight_per_key: at most that many units with the same key (e.g. the site
        a download comes from) run at once; None = no per-key cap.
    in_process: run the work here, in the client, not on workers: for units far cheaper than a task's
        round trip (parsing a listed URL). Planning, flushes and the commit are the same.
    units_per_task: at most this many units sent to a worker as one Dask task, run one after another:
        for units of a few milliseconds, where the scheduler's per-task cost would otherwise be a large
        share. Fewer towards the end of a run (see guided_batch_size). Units of a task share their
        concurrency key, so the per-key cap still bounds work running at once.
    """

    name: str
    version: str
    outputs: tuple[TableSpec, ...]
    work: Callable[[Mapping[str, Any], Any], Any]
    resources: Mapping[str, float] = field(default_factory=dict)
    make_context: Callable[[], Any] | None = None
    config: Any = None
    concurrency_key: Callable[[Mapping[str, Any]], str] | None = None
    max_in_flight_per_key: int = 0
    in_process: bool = False
    units_per_task: int = 1

    def __post_init__(self) -> None:
        if self.units_per_task < 1:
            raise ValueError(f"stage {self.name!r}: units_per_task must be >= 1, got {self.units_per_task}")
        if self.in_process and (self.make_context is not None or self.resources):
            raise ValueError(f"stage {self.name!r}: an in-process stage has no worker context or resources")
        for spec in self.outputs:
            if self.name not in spec.producers:
                raise ValueError(f"stage {self.name!r} cannot write table {spec.name!r}: only {list(spec.producers)} do")


@dataclass(frozen=True)
class RunnerConfig:
    """How a stage run batches, bounds and reports its work.

    flush_every_units / flush_every_s / flush_every_bytes: a flush happens at whichever comes first;
        a crash loses at most one flush of work. An in-process stage's units cost microseconds to redo:
        its flushes follow time and bytes only.
    max_in_flight: tasks submitted but not collected; 0 = 16 per worker thread.
    retry_failed: also run units whose latest attempt at this version failed.
    limit: run at most this many due units (0 = all), for trying a stage on a sample.
    lock_wait_s: wait this long for another writer of the same root (0 = fail at once and say who).
    """

    flush_every_units: int = 64
    flush_every_s: float = 30.0
    flush_every_bytes: int = 256 * 2**20
    max_in_flight: int = 0
    retry_failed: bool = False
    limit: int = 0
    lock_wait_s: float = 0.0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("flush_every_units", "flush_every_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"RunnerConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("flush_every_s", "lock_wait_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"RunnerConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_in_flight < 0 or self.limit < 0:
            raise ValueError("RunnerConfig.max_in_flight and RunnerConfig.limit must be >= 0")


@dataclass
class UnitOutcome:
    """What came back from one unit: its status, its validated tables, and how long it took."""

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
    failures: list[dict[str, str]] = field(default_factory=list)
    wall_s: float = 0.0
    units_per_s: float = 0.0

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


# ---------------------------------------------------------------- on the worker


class StageContextPlugin(WorkerPlugin):
    """Builds a stage's per-worker state (a model) once per worker, on first use, and keeps it."""

    def __init__(self, name: str, make_context: Callable[[], Any]) -> None:
        self.name = name
        self.make_context = make_context
        self._context: Any = None
        self._error: BaseException | None = None

    def setup(self, worker: Any) -> None:
        self._context, self._error = None, None

    def context(self) -> Any:
        if self._error is not None:
            raise self._error  # building failed before: do not rebuild a broken model for every unit
        if self._context is None:
            try:
                self._context = self.make_context()
            except Exception as e:
                self._error = e
                raise
        return self._context


def plugin_name(stage: Stage) -> str:
    return f"hmmr-context-{stage.name}-{stage.version}"


def run_unit(stage: Stage, unit_id: str, payload: Mapping[str, Any]) -> UnitOutcome:
    """Run one unit on a worker. The unit boundary: every exception becomes a `failed` outcome here."""
    started = time.perf_counter()
    try:
        context = None
        if stage.make_context is not None:
            context = get_worker().plugins[plugin_name(stage)].context()
        result = stage.work(payload, context)
        if not isinstance(result, UnitResult):
            result = UnitResult(tables=result)
        tables = _validated_tables(stage, unit_id, result.tables)
        return UnitOutcome(unit_id, STATUS_OK, tables=tables, counters=dict(result.counters),
                           duration_s=time.perf_counter() - started)
    except SkipUnit as skip:
        return UnitOutcome(unit_id, STATUS_SKIPPED, reason=skip.reason, message=skip.message,
                           duration_s=time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - the one unit boundary: a failure becomes a status row
        return UnitOutcome(unit_id, STATUS_FAILED, reason=type(error).__name__, message=describe_error(error),
                           duration_s=time.perf_counter() - started)


def run_units(stage: Stage, payloads: list[Mapping[str, Any]]) -> list[UnitOutcome]:
    """One task: its units one after another (a batch of cheap units costs one scheduler round trip)."""
    return [run_unit(stage, str(payload[UNIT_ID]), payload) for payload in payloads]


def _validated_tables(stage: Stage, unit_id: str, tables: Mapping[str, Any]) -> dict[str, pa.Table]:
    by_name = {spec.name: spec for spec in stage.outputs}
    unknown = set(tables) - set(by_name)
    if unknown:
        raise ValueError(f"stage {stage.name!r} returned tables {sorted(unknown)}; it writes only {sorted(by_name)}")
    return {name: to_table(by_name[name], frame, source=f"stage {stage.name!r}, unit {unit_id!r}")
            for name, frame in tables.items()}


def describe_error(error: BaseException) -> str:
    """The error, its causes, and where it was raised, in a few lines for a status row."""
    lines = []
    current: BaseException | None = error
    while current is not None:
        lines.append("".join(traceback.format_exception_only(type(current), current)).strip())
        current = current.__cause__
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        lines.append(f"at {last.filename}:{last.lineno} in {last.name}")
    text = "\n  caused by: ".join(lines[:-1] if frames else lines)
    if frames:
        text += f" ({lines[-1]})"
    return printable(text)[:MAX_MESSAGE_CHARS]  # no '\r' (yt-dlp's) to blank the message in a terminal


# ---------------------------------------------------------------- on the client


def new_run_id(stage: str) -> str:
    """Sortable by start time, unique across hosts."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%f}-{stage}-{secrets.token_hex(3)}"


def plan_units(root: DatasetRoot, stage: Stage, units: pd.DataFrame, retry_failed: bool,
               redo: Collection[str] = frozenset()) -> tuple[pd.DataFrame, int, int]:
    """(due units, n already done, n failed and not retried). Vectorised: a million keys take seconds.
    `redo`: units done at this version whose inputs have changed since; they are due again."""
    if UNIT_ID not in units.columns:
        raise ValueError(f"stage {stage.name!r}: the units frame needs a {UNIT_ID!r} column; it has {list(units.columns)}")
    ids = pa.array(units[UNIT_ID].astype(str).to_numpy(), pa.string())
    if len(units) and units[UNIT_ID].duplicated().any():
        dup = units.loc[units[UNIT_ID].duplicated(), UNIT_ID].iloc[0]
        raise ValueError(f"stage {stage.name!r}: unit id {dup!r} appears more than once in the input")
    done = unit_keys_with_status(root, stage.name, stage.version, (STATUS_OK, STATUS_SKIPPED))
    is_done = pc.is_in(ids, value_set=done).to_numpy(zero_copy_only=False)
    if redo:
        is_done &= ~pc.is_in(ids, value_set=pa.array(sorted(redo), pa.string())).to_numpy(zero_copy_only=False)
    failed = unit_keys_with_status(root, stage.name, stage.version, (STATUS_FAILED,))
    is_failed = pc.is_in(ids, value_set=failed).to_numpy(zero_copy_only=False) & ~is_done
    due_mask = ~is_done if retry_failed else ~is_done & ~is_failed
    n_failed_not_retried = 0 if retry_failed else int(is_failed.sum())
    return units[due_mask], int(is_done.sum()), n_failed_not_retried


def _payloads(due: pd.DataFrame, chunk: int = 10_000) -> Iterator[dict[str, Any]]:
    """Rows as dicts, a chunk at a time (a million dicts at once would cost gigabytes)."""
    for start in range(0, len(due), chunk):
        yield from due.iloc[start:start + chunk].to_dict("records")


_CRASH_POINT_PASSES: Counter = Counter()


def _crash_point(name: str) -> None:
    """Test hook: SIGKILL this process at a named point, to prove that a crash loses nothing committed."""
    wanted = os.environ.get(CRASH_ENV, "")
    if not wanted.startswith(name + ":"):
        return
    _CRASH_POINT_PASSES[name] += 1
    if _CRASH_POINT_PASSES[name] >= int(wanted.split(":", 1)[1]):
        os.kill(os.getpid(), signal.SIGKILL)


class _FlushBuffer:
    """Outcomes waiting to be written, and the rule for when to write them."""

    def __init__(self, config: RunnerConfig, count_units: bool = True) -> None:
        self.config = config
        self.count_units = count_units
        self.outcomes: list[UnitOutcome] = []
        self.n_bytes = 0
        self.since = time.monotonic()

    def add(self, outcome: UnitOutcome) -> None:
        self.outcomes.append(outcome)
        self.n_bytes += outcome.n_bytes

    def is_due(self) -> bool:
        return bool(self.outcomes) and (
            (self.count_units and len(self.outcomes) >= self.config.flush_every_units)
            or self.n_bytes >= self.config.flush_every_bytes
            or time.monotonic() - self.since >= self.config.flush_every_s
        )

    def take(self) -> list[UnitOutcome]:
        taken, self.outcomes, self.n_bytes, self.since = self.outcomes, [], 0, time.monotonic()
        return taken


def flush(root: DatasetRoot, stage: Stage, run_id: str, flush_id: str, outcomes: list[UnitOutcome]) -> None:
    """Write the data parts of the ok units, then the status part that commits them and every other unit."""
    for spec in stage.outputs:
        tables = [o.tables[spec.name] for o in outcomes if o.status == STATUS_OK and spec.name in o.tables]
        if tables:
            write_part(root, spec, pa.concat_tables(tables), flush_id)
            _crash_point("after-data-part")
    status = to_table(status_spec(stage.name), {
        "unit_id": [o.unit_id for o in outcomes],
        "stage": [stage.name] * len(outcomes),
        "version": [stage.version] * len(outcomes),
        "status": [o.status for o in outcomes],
        "reason": [o.reason for o in outcomes],
        "message": [o.message for o in outcomes],
        "run_id": [run_id] * len(outcomes),
        "flush_id": [flush_id] * len(outcomes),
        "finished_at": [o.finished_at for o in outcomes],
        "duration_s": [o.duration_s for o in outcomes],
    }, source=f"status of flush {flush_id}")
    write_part(root, status_spec(stage.name), status, flush_id)
    _crash_point("after-status-part")


def _collect_outcomes(result: Any, unit_ids: list[str]) -> list[UnitOutcome]:
    """A finished task's outcomes. run_units never raises, so anything else is the error of a worker
    that died under the task (KilledWorker, ...): it fails that task's units, not the run."""
    if isinstance(result, list) and all(isinstance(outcome, UnitOutcome) for outcome in result):
        return result
    error = result if isinstance(result, BaseException) else RuntimeError(f"unexpected result {result!r}")
    if isinstance(error, KilledWorker):
        return [UnitOutcome(unit_id, STATUS_FAILED, reason=type(error).__name__,
                            message=_worker_death_message(error, unit_id, unit_ids)) for unit_id in unit_ids]
    return [UnitOutcome(unit_id, STATUS_FAILED, reason=type(error).__name__, message=describe_error(error))
            for unit_id in unit_ids]


def _worker_death_message(error: KilledWorker, unit_id: str, unit_ids: list[str]) -> str:
    """Dask says only that workers died under a task: say which unit it was and the likely cause."""
    others = [other for other in unit_ids if other != unit_id]
    shared = (f" Its task also held {len(others)} other unit(s) ({', '.join(others[:5])}), failed with it: any "
              "of them may be the cause." if others else "")
    return (f"the worker process running unit {unit_id} died, and so did each worker that tried it again. Most "
            "likely it ran out of memory (killed by its nanny at the worker's memory limit, or by the system): a "
            "video with huge frames (see --max-frame-pixels) or a very long one; else a crash in native code "
            f"(decoder, pose model).{shared} The workers' logs say which. Dask: {first_line(str(error))[:300]}")


def _results(client: Client, futures: list[Any]) -> list[Any]:
    """The results of finished futures, in one gather. A future whose worker died under it gives its
    error (KilledWorker) instead; one whose result was lost with its worker is computed again first."""
    values = iter(client.gather(futures, errors="skip"))
    results = []
    for future in futures:
        if future.status == "finished":
            results.append(next(values))
            continue
        try:
            results.append(future.exception())
        except BaseException as error:  # noqa: BLE001 - cancelled and the like: the error is the result
            results.append(error)
    return results


def _tasks(payloads: Iterator[dict[str, Any]], key_of: Callable[[Mapping[str, Any]], str | None],
           batch_size: Callable[[int], int], max_open: int = 64) -> Iterator[tuple[str | None, list[dict[str, Any]]]]:
    """(key, payloads that share the key) in input order, as the input streams in: a batch is sent when it
    holds `batch_size(n_before)` payloads (n_before: payloads read before the latest), when `max_open`
    keys have open batches (many keys must not hold the input back), or at the end."""
    open_batches: dict[str | None, list[dict[str, Any]]] = {}
    for n_before, payload in enumerate(payloads):
        key = key_of(payload)
        batch = open_batches.setdefault(key, [])
        batch.append(payload)
        if len(batch) >= batch_size(n_before):
            yield key, open_batches.pop(key)
        elif len(open_batches) > max_open:
            oldest = next(iter(open_batches))
            yield oldest, open_batches.pop(oldest)
    yield from open_batches.items()


def guided_batch_size(n_left: int, threads: int, units_per_task: int) -> int:
    """Guided self-scheduling: a task takes its thread's share of the units left, at most units_per_task.
    Early tasks are large (few scheduler round trips); the last ones are single units, so no thread waits
    on a long task at the end of a run."""
    return max(1, min(units_per_task, -(-n_left // threads)))


def _record(stats: RunStats, outcome: UnitOutcome) -> None:
    if outcome.status == STATUS_OK:
        stats.n_ok += 1
    elif outcome.status == STATUS_SKIPPED:
        stats.n_skipped += 1
        stats.skipped_by_reason[outcome.reason or "?"] = stats.skipped_by_reason.get(outcome.reason or "?", 0) + 1
    else:
        stats.n_failed += 1
        stats.failed_by_reason[outcome.reason or "?"] = stats.failed_by_reason.get(outcome.reason or "?", 0) + 1
        if len(stats.failures) < 20:
            stats.failures.append({"unit_id": outcome.unit_id, "reason": outcome.reason or "",
                                   "message": outcome.message or ""})
    for name, value in outcome.counters.items():
        stats.counters[name] = stats.counters.get(name, 0) + value


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


def write_json_atomic(path: Path, data: Any) -> None:
    write_plain_json_atomic(path, _jsonable(data))


OUR_LOGGERS = ("pipelines", "manifests", "harvest", "pseudolabel", "tracking", "train")


def _attach_run_log(path: Path) -> logging.Handler:
    """Copy our packages' INFO+ records (and everyone's warnings) into the run folder's log."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    for name in OUR_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    return handler


def _detach_run_log(handler: logging.Handler) -> None:
    for name in OUR_LOGGERS:
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def run_stage(
    client: Client,
    root: DatasetRoot,
    stage: Stage,
    units: pd.DataFrame,
    config: RunnerConfig = RunnerConfig(),
    redo: Collection[str] = frozenset(),
) -> RunStats:
    """Run the due units of `stage` over `units` (a frame with a `unit_id` column plus payload columns).
    `redo`: unit ids done at this version whose inputs changed since (another upstream commit): due again.

    Holds the dataset lock for the whole run. Returns the run's stats; the caller decides the exit code
    (non-zero when `stats.n_failed`).
    """
    run_id = new_run_id(stage.name)
    run_dir = root.runs_dir / run_id
    stats = RunStats(stage=stage.name, version=stage.version, run_id=run_id, run_dir=str(run_dir), n_input=len(units))
    started = time.perf_counter()
    with DatasetLock(root.path, owner=f"stage {stage.name} run {run_id}", wait_s=config.lock_wait_s):
        run_dir.mkdir(parents=True, exist_ok=True)
        handler = _attach_run_log(run_dir / "log")
        try:
            removed = remove_orphan_parts(root, stage.name, stage.outputs)
            if removed:
                log.warning("removed %d uncommitted parts left by an interrupted run", len(removed))
            due, stats.n_already_done, stats.n_failed_not_retried = plan_units(root, stage, units, config.retry_failed, redo)
            if config.limit:
                due = due.iloc[:config.limit]
            stats.n_due = len(due)
            write_json_atomic(run_dir / "config.json", {
                "stage": stage.name, "version": stage.version, "runner": config, "stage_config": stage.config,
                "root": str(root.path), "argv": sys.argv, "scheduler": client.scheduler.address,
            })
            if stats.n_due:
                _execute(client, root, stage, due, config, run_id, stats)
        finally:
            stats.wall_s = time.perf_counter() - started
            stats.units_per_s = (stats.n_ok + stats.n_failed + stats.n_skipped) / stats.wall_s if stats.wall_s else 0.0
            write_json_atomic(run_dir / "stats.json", stats)
            log.info(stats.summary())
            _detach_run_log(handler)
    return stats


def _execute(client: Client, root: DatasetRoot, stage: Stage, due: pd.DataFrame, config: RunnerConfig,
             run_id: str, stats: RunStats) -> None:
    payloads = _payloads(due)
    if stage.in_process:
        outcomes = (run_unit(stage, str(payload[UNIT_ID]), payload) for payload in payloads)
    else:
        outcomes = _outcomes_from_workers(client, stage, payloads, len(due), config, run_id)
    # Flushes bound the work a crash can lose: in-process units cost microseconds, so theirs follow
    # time and bytes only (a part per 64 listed URLs made the known-URL enumerate 40% slower).
    buffer = _FlushBuffer(config, count_units=not stage.in_process)
    n_flushes = 0

    def flush_buffer() -> None:
        nonlocal n_flushes
        n_flushes += 1
        flush(root, stage, run_id, f"{run_id}-{n_flushes:06d}", buffer.take())
        stats.n_flushes = n_flushes

    with tqdm(total=stats.n_due, desc=stage.name, unit="unit", disable=not config.progress, file=sys.stderr) as bar:
        for outcome in outcomes:
            buffer.add(outcome)
            _record(stats, outcome)
            if not bar.disable:  # tqdm formats the postfix even for a bar it does not show
                bar.update(1)
                bar.set_postfix(ok=stats.n_ok, failed=stats.n_failed, skipped=stats.n_skipped, refresh=False)
            if buffer.is_due():
                flush_buffer()
        if buffer.outcomes:
            flush_buffer()


def _outcomes_from_workers(client: Client, stage: Stage, payloads: Iterator[dict[str, Any]], n_due: int,
                           config: RunnerConfig, run_id: str) -> Iterator[UnitOutcome]:
    """Send the units to the cluster as tasks, with backpressure and per-key caps; yield outcomes as
    tasks finish."""
    require_resources(client, stage.resources, stage.name)
    if stage.make_context is not None:
        client.register_plugin(StageContextPlugin(plugin_name(stage), stage.make_context), name=plugin_name(stage))
    key_of = stage.concurrency_key or (lambda payload: None)
    # Enough tasks in flight that workers never wait for the client's round trip; results are gathered
    # in batches as they complete, after each batch's slots are refilled.
    threads = max(1, worker_threads(client))
    max_in_flight = config.max_in_flight or 16 * threads
    per_task = stage.units_per_task
    tasks = _tasks(payloads, key_of, lambda n_before: guided_batch_size(n_due - n_before, threads, per_task))
    units_of_future: dict[Any, tuple[list[str], str | None]] = {}
    in_flight = as_completed()
    # Per-key caps (politeness to one site): tasks of a saturated key wait here, a bounded number.
    running_by_key: Counter = Counter()
    waiting_by_key: dict[str, deque] = defaultdict(deque)
    max_waiting = 10 * max_in_flight

    def submit(key: str | None, batch: list[dict[str, Any]]) -> None:
        unit_ids = [str(payload[UNIT_ID]) for payload in batch]
        future = client.submit(run_units, stage, batch, resources=dict(stage.resources) or None,
                               key=f"{stage.name}-{run_id}-{unit_ids[0]}", pure=False)
        units_of_future[future] = (unit_ids, key)
        running_by_key[key] += 1
        in_flight.add(future)

    def submit_next(finished_key: str | None = None) -> bool:
        cap = stage.max_in_flight_per_key
        if finished_key is not None and waiting_by_key.get(finished_key):
            submit(finished_key, waiting_by_key[finished_key].popleft())
            return True
        while sum(len(q) for q in waiting_by_key.values()) < max_waiting:
            key, batch = next(tasks, (None, None))
            if batch is None:
                return False
            if cap and key is not None and running_by_key[key] >= cap:
                waiting_by_key[key].append(batch)
                continue
            submit(key, batch)
            return True
        return False

    for _ in range(max_in_flight):
        if not submit_next():
            break
    for finished in in_flight.batches():
        # Refill first, then fetch results: a worker thread waits one round trip for its next task,
        # not two (as_completed's with_results would fetch before the refill).
        done = [(future, *units_of_future.pop(future)) for future in finished]
        for _, _, key in done:
            running_by_key[key] -= 1
            submit_next(finished_key=key)
        for (future, unit_ids, _), result in zip(done, _results(client, [future for future, _, _ in done])):
            future.release()
            yield from _collect_outcomes(result, unit_ids)
