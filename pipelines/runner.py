"""The one generic stage runner: plan, run the units on a scheduler, commit as they finish, record the run.

`run_stage` makes a `Stage` (pipelines.stage) an incremental, crash-safe job:
  plan     input units minus units whose latest `ok`/`skipped` status is at this stage version (and
           minus `failed` ones unless retry_failed) (pipelines.plan);
  run      on a scheduler: here, in-process, or on a Dask cluster (pipelines.scheduler,
           pipelines.dask_scheduler); every unit ends as ok / failed (error type + message) / skipped;
  commit   every N units, T seconds or B bytes: data parts first, then the status part that commits
           them (manifests.commit);
  record   runs/<run_id>/config.json, stats.json and log (pipelines.records).
A command that runs several stages holds the root for all of them (`holding_root`).
"""
from __future__ import annotations

import itertools
import logging
import sys
import time
from dataclasses import dataclass
from typing import Collection, Sequence

from tqdm import tqdm

from manifests import DatasetLock, DatasetRoot
from manifests.commit import CommitHook, UnitOutcome, commit
from manifests.status import UnitPayload
from manifests.store import read_status, remove_orphan_parts
from manifests.tables import REMOVED_REASON, STATUS_SKIPPED, UNIT_ID
from manifests.tombstones import removal_reasons
from pipelines.plan import Plan, plan_units
from pipelines.records import RunStats, new_run_id, run_log, write_json_atomic
from pipelines.scheduler import Scheduler
from pipelines.stage import Stage, removal_keys_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerConfig:
    """How a stage run batches, bounds and reports its work.

    flush_every_units / flush_every_s / flush_every_bytes: a flush happens at whichever comes first;
        a crash loses at most one flush of work. Units run in-process cost microseconds to redo:
        their flushes follow time and bytes only.
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


def holding_root(root: DatasetRoot, command: str, config: RunnerConfig) -> DatasetLock:
    """The root's writer lock for a whole command, from its first stage's plan to its last commit: another
    command, even one queued with --lock-wait, never runs between two of its stages (the lock is
    re-entrant, so each stage's own `run_stage` takes it again at no cost)."""
    return DatasetLock(root.path, owner=command, wait_s=config.lock_wait_s)


def run_stage(
    scheduler: Scheduler,
    root: DatasetRoot,
    stage: Stage,
    units: Sequence[UnitPayload],
    config: RunnerConfig = RunnerConfig(),
    redo: Collection[str] = frozenset(),
    commit_hook: CommitHook | None = None,
) -> RunStats:
    """Run the due units of `stage` among `units` (payloads of the stage's type) on `scheduler`.

    redo: unit ids done at this version whose inputs changed since (another upstream commit): due again.
    commit_hook: a test hook called at each point of every commit (manifests.commit).
    Holds the dataset lock for the whole run. Returns the run's stats; the caller decides the exit code
    (non-zero when `stats.n_failed`).
    """
    run_id = new_run_id(stage.name)
    run_dir = root.runs_dir / run_id
    stats = RunStats(stage=stage.name, version=stage.version, run_id=run_id, run_dir=str(run_dir), n_input=len(units))
    started = time.perf_counter()
    with DatasetLock(root.path, owner=f"stage {stage.name} run {run_id}", wait_s=config.lock_wait_s):
        run_dir.mkdir(parents=True, exist_ok=True)
        with run_log(run_dir / "log"):
            try:
                removed = remove_orphan_parts(root, stage.name, stage.outputs)
                if removed:
                    log.warning("removed %d uncommitted parts left by an interrupted run", len(removed))
                taken_down = _taken_down(root, stage, units)
                # A unit taken down since it was done is due once more, to be skipped as removed.
                redo = frozenset(redo) | (taken_down.keys() - _skipped_as_removed(root, stage))
                plan = plan_units(root, stage, units, config.retry_failed, redo, config.limit)
                stats.n_already_done, stats.n_failed_not_retried = plan.n_already_done, plan.n_failed_not_retried
                stats.n_due = len(plan.due)
                write_json_atomic(run_dir / "config.json", {
                    "stage": stage.name, "version": stage.version, "runner": config, "stage_config": stage.config,
                    "root": str(root.path), "argv": sys.argv, "scheduler": scheduler.describe(),
                })
                if plan.due:
                    _run_and_commit(scheduler, root, stage, plan, config, stats, commit_hook, taken_down)
            finally:
                stats.finish(time.perf_counter() - started)
                write_json_atomic(run_dir / "stats.json", stats)
                log.info(stats.summary())
    return stats


def _taken_down(root: DatasetRoot, stage: Stage, units: Sequence[UnitPayload]) -> dict[str, str]:
    """{unit id: reason} for the units whose video id or URL has a tombstone (manifests.tombstones)."""
    if not units or not removal_keys_of(stage, units[0]):
        return {}
    reasons = removal_reasons(root)
    if not reasons:
        return {}
    found = {}
    for unit in units:
        reason = next((reasons[k] for k in removal_keys_of(stage, unit) if k in reasons), None)
        if reason is not None:
            found[unit.unit_id] = reason
    return found


def _skipped_as_removed(root: DatasetRoot, stage: Stage) -> set[str]:
    status = read_status(root, stage.name, columns=[UNIT_ID, "status", "reason"]).to_pandas()
    return set(status.loc[(status["status"] == STATUS_SKIPPED) & (status["reason"] == REMOVED_REASON), UNIT_ID])


def _run_and_commit(scheduler: Scheduler, root: DatasetRoot, stage: Stage, plan: Plan, config: RunnerConfig,
                    stats: RunStats, hook: CommitHook | None, removed: dict[str, str]) -> None:
    """Run the plan's units on the scheduler and commit their outcomes a flush at a time, as they come.
    Units taken down (`removed`) never reach the scheduler: they end here, skipped, with the reason."""
    kept = [unit for unit in plan.due if unit.unit_id not in removed]
    refused = [UnitOutcome(unit.unit_id, STATUS_SKIPPED, reason=REMOVED_REASON, message=removed[unit.unit_id])
               for unit in plan.due if unit.unit_id in removed]
    ran = scheduler.outcomes(stage, iter(kept), len(kept), stats.run_id, config.max_in_flight) if kept else iter(())
    outcomes = itertools.chain(refused, ran)
    buffer = _FlushBuffer(config, count_units=scheduler.flush_by_units)
    with tqdm(total=stats.n_due, desc=stage.name, unit="unit", disable=not config.progress, file=sys.stderr) as bar:
        for outcome in outcomes:
            buffer.add(outcome)
            stats.add(outcome)
            if not bar.disable:  # tqdm formats the postfix even for a bar it does not show
                bar.update(1)
                bar.set_postfix(ok=stats.n_ok, failed=stats.n_failed, skipped=stats.n_skipped, refresh=False)
            if buffer.is_due():
                _flush(root, stage, stats, buffer.take(), hook)
        if buffer.outcomes:
            _flush(root, stage, stats, buffer.take(), hook)


def _flush(root: DatasetRoot, stage: Stage, stats: RunStats, outcomes: list[UnitOutcome],
           hook: CommitHook | None) -> None:
    stats.n_flushes += 1
    flush_id = f"{stats.run_id}-{stats.n_flushes:06d}"
    commit(root, stage.name, stage.version, stage.outputs, stats.run_id, flush_id, outcomes, hook)


class _FlushBuffer:
    """Outcomes waiting to be committed, and the rule for when to commit them."""

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
