"""A toy stage that exercises the runner with nothing else in the way (tests and `make bench`).

Each unit writes `n_rows` rows to the `toy` table; a unit whose payload says `fail` raises, one that
says `skip` is skipped, one that says `die` kills its worker process (as a crash in a decoder would).
`python -m testing.toy ROOT --units 200` runs it on a LocalCluster, which is how the crash test kills
a real run in a subprocess (`--crash-at after-data-part:5`: SIGKILL at the 5th data part written).
"""
from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import click
import pyarrow as pa

from manifests import DatasetLocked, DatasetRoot, SkipUnit, TableSpec
from manifests.commit import CommitHook
from manifests.rows import Rows, check_rows_type
from manifests.status import UNIT_ID, UnitPayload, UnitResult
from pipelines.cluster import ClusterConfig, connect
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, run_stage
from pipelines.stage import Stage

TOY = TableSpec(
    name="toy",
    schema=pa.schema([
        pa.field(UNIT_ID, pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]),
    key=(UNIT_ID, "row"),
    unit_column=UNIT_ID,
    producer="toy",
)


@dataclass(frozen=True, eq=False)
class ToyRows(Rows):
    SPEC = TOY
    unit_id: Sequence[str]
    row: Sequence[int]
    value: Sequence[float]


check_rows_type(ToyRows)


@dataclass(frozen=True)
class ToyPayload(UnitPayload):
    """What a toy unit does: write n_rows rows (values from `index`), or fail, skip, die, after sleep_s."""

    index: int = 0
    n_rows: int = 1
    fail: bool = False
    skip: bool = False
    die: bool = False
    sleep_s: float = 0.0
    site: str = ""


class ToyFailure(RuntimeError):
    """The failure a toy unit raises on purpose."""


def toy_work(payload: ToyPayload, context: Any) -> UnitResult:
    if payload.sleep_s:
        time.sleep(payload.sleep_s)
    if payload.die:
        os._exit(1)
    if payload.fail:
        raise ToyFailure(f"unit {payload.unit_id} was told to fail")
    if payload.skip:
        raise SkipUnit("told_to_skip", f"unit {payload.unit_id} was told to skip")
    n_rows = payload.n_rows
    return UnitResult(rows=(ToyRows(unit_id=[payload.unit_id] * n_rows, row=list(range(n_rows)),
                                    value=[float(payload.index * 1000 + r) for r in range(n_rows)]),))


def noop_work(payload: ToyPayload, context: Any) -> UnitResult:
    return UnitResult()


def toy_stage(version: str = "1", noop: bool = False) -> Stage:
    return Stage(name="toy", version=version, outputs=(TOY,), work=noop_work if noop else toy_work)


def toy_units(n_units: int, fail: tuple[int, ...] = (), skip: tuple[int, ...] = (), sleep_s: float = 0.0,
              die: tuple[int, ...] = ()) -> list[ToyPayload]:
    """Units u00000, u00001, ...; unit i writes i % 3 + 1 rows."""
    return [ToyPayload(unit_id=f"u{i:05d}", index=i, n_rows=i % 3 + 1, fail=i in fail, skip=i in skip, die=i in die,
                       sleep_s=sleep_s) for i in range(n_units)]


def sigkill_hook(point_and_pass: str) -> CommitHook:
    """A commit hook that SIGKILLs this process at the n-th pass of a point ("after-data-part:5"), to prove
    that a crash there loses nothing committed."""
    point, _, nth = point_and_pass.partition(":")
    passes: Counter = Counter()

    def hook(passed: str) -> None:
        if passed == point:
            passes[passed] += 1
            if passes[passed] >= int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


@click.command()
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--units", "n_units", default=200, show_default=True, help="Number of toy units.")
@click.option("--fail", multiple=True, type=int, help="Index of a unit that raises (repeatable).")
@click.option("--sleep-s", default=0.0, show_default=True, help="Seconds each unit sleeps.")
@click.option("--flush-every", default=10, show_default=True, help="Units per flush.")
@click.option("--retry-failed", is_flag=True, help="Also redo units that failed before.")
@click.option("--lock-wait", default=0.0, show_default=True, help="Seconds to wait for another writer.")
@click.option("--threads", is_flag=True, help="A LocalCluster of threads in this process (no worker processes).")
@click.option("--crash-at", default=None, metavar="POINT:N", help="SIGKILL at the N-th pass of a commit point.")
def main(root: str, n_units: int, fail: tuple[int, ...], sleep_s: float, flush_every: int, retry_failed: bool,
         lock_wait: float, threads: bool, crash_at: str | None) -> None:
    """Run the toy stage over ROOT and print its summary."""
    runner = RunnerConfig(flush_every_units=flush_every, retry_failed=retry_failed, lock_wait_s=lock_wait,
                          progress=False)
    with connect(ClusterConfig(n_workers=2, processes=not threads)) as client:
        try:
            stats = run_stage(DaskScheduler(client), DatasetRoot(root), toy_stage(),
                              toy_units(n_units, fail=fail, sleep_s=sleep_s), runner,
                              commit_hook=_crash_hook(crash_at))
        except DatasetLocked as e:
            raise click.ClickException(str(e)) from e
    click.echo(stats.summary())
    if stats.n_failed:
        raise SystemExit(1)


def _crash_hook(point_and_pass: str | None) -> CommitHook | None:
    return sigkill_hook(point_and_pass) if point_and_pass else None


if __name__ == "__main__":
    main()
