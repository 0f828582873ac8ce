"""A stage, and the unit boundary where its work runs: the part of the runner a scheduler calls on a worker.

Dask-free, as datatrove keeps a step apart from the executor that runs it: the schedulers
(pipelines.scheduler, pipelines.dask_scheduler) decide where `run_units` runs; this module decides what
running a unit means.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa

from manifests import SkipUnit, TableSpec
from manifests.commit import UnitOutcome
from manifests.status import UnitPayload, UnitResult, printable
from manifests.tables import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED

MAX_MESSAGE_CHARS = 4000

# The per-worker state of a stage (a pose model), built on first use: a scheduler hands run_unit a getter.
ContextGetter = Callable[[], Any]


@dataclass(frozen=True)
class Stage:
    """A unit of work and where its results go.

    name, version: the status key; bumping `version` makes every unit due again.
    outputs: the tables the work fills (their `producer` must be this stage's name).
    work: work(payload, context) -> UnitResult; raise SkipUnit to skip. The payload is the stage's own
        `UnitPayload` dataclass. Pure: reads its inputs from the payload, writes nothing but its result;
        must be importable by workers.
    resources: Dask worker resources per unit, e.g. {"GPU": 1}.
    make_context: builds the per-worker state (a pose model) once per worker, lazily; None = no state.
    config: the stage's resolved config dataclass, recorded in config.json.
    concurrency_key, max_in_flight_per_key: at most that many units with the same key (e.g. the site
        a download comes from) run at once; None = no per-key cap.
    units_per_task: at most this many units sent to a worker as one Dask task, run one after another:
        for units of a few milliseconds, where the scheduler's per-task cost would otherwise be a large
        share. Fewer towards the end of a run (see pipelines.dask_scheduler.guided_batch_size). Units of a
        task share their concurrency key, so the per-key cap still bounds work running at once.
    """

    name: str
    version: str
    outputs: tuple[TableSpec, ...]
    work: Callable[[Any, Any], UnitResult]
    resources: Mapping[str, float] = field(default_factory=dict)
    make_context: Callable[[], Any] | None = None
    config: Any = None
    concurrency_key: Callable[[Any], str] | None = None
    max_in_flight_per_key: int = 0
    units_per_task: int = 1

    def __post_init__(self) -> None:
        if self.units_per_task < 1:
            raise ValueError(f"stage {self.name!r}: units_per_task must be >= 1, got {self.units_per_task}")
        for spec in self.outputs:
            if self.name not in spec.producers:
                raise ValueError(f"stage {self.name!r} cannot write table {spec.name!r}: only {list(spec.producers)} do")


def no_context() -> None:
    """The context getter of a stage without per-worker state."""
    return None


class LazyContext:
    """A stage's per-worker state, built on the first call and kept. A build that failed is not tried again
    (a broken model must not be rebuilt for every unit): each later call raises the same error."""

    def __init__(self, make_context: Callable[[], Any]) -> None:
        self.make_context = make_context
        self._context: Any = None
        self._error: BaseException | None = None

    def __call__(self) -> Any:
        if self._error is not None:
            raise self._error
        if self._context is None:
            try:
                self._context = self.make_context()
            except Exception as e:
                self._error = e
                raise
        return self._context


def run_unit(stage: Stage, payload: UnitPayload, context: ContextGetter = no_context) -> UnitOutcome:
    """Run one unit. The unit boundary: every exception becomes a `failed` outcome here, including a
    failure to build the worker's context."""
    started = time.perf_counter()
    unit_id = payload.unit_id
    try:
        result = stage.work(payload, context())
        tables = validated_tables(stage, unit_id, result)
        return UnitOutcome(unit_id, STATUS_OK, tables=tables, counters=dict(result.counters),
                           duration_s=time.perf_counter() - started)
    except SkipUnit as skip:
        return UnitOutcome(unit_id, STATUS_SKIPPED, reason=skip.reason, message=skip.message,
                           duration_s=time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - the one unit boundary: a failure becomes a status row
        return UnitOutcome(unit_id, STATUS_FAILED, reason=type(error).__name__, message=describe_error(error),
                           duration_s=time.perf_counter() - started)


def run_units(stage: Stage, payloads: Sequence[UnitPayload], context: ContextGetter = no_context) -> list[UnitOutcome]:
    """One task: its units one after another (a batch of cheap units costs one scheduler round trip)."""
    return [run_unit(stage, payload, context) for payload in payloads]


def validated_tables(stage: Stage, unit_id: str, result: UnitResult) -> dict[str, pa.Table]:
    """The result's rows as tables matching their specs; refuses a table the stage does not write."""
    if not isinstance(result, UnitResult):
        raise TypeError(f"stage {stage.name!r} returned {type(result).__name__}; a work function returns a UnitResult")
    by_name = {spec.name: spec for spec in stage.outputs}
    tables = {}
    for rows in result.rows:
        name = rows.SPEC.name
        if name not in by_name:
            raise ValueError(f"stage {stage.name!r} returned rows of table {name!r}; it writes only {sorted(by_name)}")
        if name in tables:
            raise ValueError(f"stage {stage.name!r} returned two records of table {name!r}; return one per table")
        tables[name] = rows.to_table(source=f"stage {stage.name!r}, unit {unit_id!r}")
    return tables


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
