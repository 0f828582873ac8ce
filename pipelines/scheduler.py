"""Where a stage's units run: the interface every scheduler offers the runner, and the in-process one.

A scheduler turns the due payloads of a stage into outcomes, in any order, each unit exactly once; the
runner (pipelines.runner) plans, commits and records around it without knowing where units ran. The Dask
scheduler (pipelines.dask_scheduler) sends them to a cluster; this one runs them here.
"""
from __future__ import annotations

from typing import Iterator, Protocol

from manifests.commit import UnitOutcome
from manifests.status import UnitPayload
from pipelines.stage import LazyContext, Stage, no_context, run_unit


class Scheduler(Protocol):
    """flush_by_units: whether the runner's flush_every_units applies (units that cost microseconds to redo
    are flushed by time and bytes only: a part per 64 listed URLs made the known-URL enumerate 40% slower)."""

    flush_by_units: bool

    def describe(self) -> str:
        """What ran the units, for the run's config.json (a scheduler address, "in-process")."""
        ...

    def outcomes(self, stage: Stage, payloads: Iterator[UnitPayload], n_due: int, run_id: str,
                 max_in_flight: int) -> Iterator[UnitOutcome]:
        """One outcome per payload, as units finish. max_in_flight: tasks out at once (0 = the scheduler's own)."""
        ...


class InProcessScheduler:
    """Each unit here, in the command's process, one after another: for units far cheaper than a task's round
    trip (enumerating a URL that names one video by itself). A stage's context is built once, on first use,
    as on a worker; resources are not checked (this process is the only worker)."""

    flush_by_units = False

    def describe(self) -> str:
        return "in-process"

    def outcomes(self, stage: Stage, payloads: Iterator[UnitPayload], n_due: int, run_id: str,
                 max_in_flight: int) -> Iterator[UnitOutcome]:
        context = LazyContext(stage.make_context) if stage.make_context is not None else no_context
        for payload in payloads:
            yield run_unit(stage, payload, context)
