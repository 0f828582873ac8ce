"""A toy stage that exercises the runner with nothing else in the way (tests and `make bench`).

Each unit writes `n_rows` rows to the `toy` table; a unit whose payload says `fail` raises, one that
says `skip` is skipped, one that says `die` kills its worker process (as a crash in a decoder would).
`python -m testing.toy ROOT --units 200` runs it on a LocalCluster, which is how the crash test kills
a real run in a subprocess.
"""
from __future__ import annotations

import os
import time
from typing import Any, Mapping

import click
import pandas as pd
import pyarrow as pa

from manifests import DatasetLocked, DatasetRoot, SkipUnit, TableSpec
from pipelines.cluster import ClusterConfig, connect
from pipelines.runner import RunnerConfig, Stage, run_stage

TOY = TableSpec(
    name="toy",
    schema=pa.schema([
        pa.field("unit_id", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]),
    key=("unit_id", "row"),
    unit_column="unit_id",
    producer="toy",
)


class ToyFailure(RuntimeError):
    """The failure a toy unit raises on purpose."""


def toy_work(payload: Mapping[str, Any], context: Any) -> dict[str, dict[str, list]]:
    if payload.get("sleep_s"):
        time.sleep(payload["sleep_s"])
    if payload.get("die"):
        os._exit(1)
    if payload.get("fail"):
        raise ToyFailure(f"unit {payload['unit_id']} was told to fail")
    if payload.get("skip"):
        raise SkipUnit("told_to_skip", f"unit {payload['unit_id']} was told to skip")
    n_rows = int(payload["n_rows"])
    index = int(payload["index"])
    return {"toy": {
        "unit_id": [payload["unit_id"]] * n_rows,
        "row": list(range(n_rows)),
        "value": [float(index * 1000 + r) for r in range(n_rows)],
    }}


def noop_work(payload: Mapping[str, Any], context: Any) -> dict:
    return {}


def toy_stage(version: str = "1", noop: bool = False) -> Stage:
    return Stage(name="toy", version=version, outputs=(TOY,), work=noop_work if noop else toy_work)


def toy_units(n_units: int, fail: tuple[int, ...] = (), skip: tuple[int, ...] = (), sleep_s: float = 0.0,
              die: tuple[int, ...] = ()) -> pd.DataFrame:
    """Units u00000, u00001, ...; unit i writes i % 3 + 1 rows."""
    index = list(range(n_units))
    return pd.DataFrame({
        "unit_id": [f"u{i:05d}" for i in index],
        "index": index,
        "n_rows": [i % 3 + 1 for i in index],
        "fail": [i in fail for i in index],
        "skip": [i in skip for i in index],
        "die": [i in die for i in index],
        "sleep_s": [sleep_s] * n_units,
    })


@click.command()
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--units", "n_units", default=200, show_default=True, help="Number of toy units.")
@click.option("--fail", multiple=True, type=int, help="Index of a unit that raises (repeatable).")
@click.option("--sleep-s", default=0.0, show_default=True, help="Seconds each unit sleeps.")
@click.option("--flush-every", default=10, show_default=True, help="Units per flush.")
@click.option("--retry-failed", is_flag=True, help="Also redo units that failed before.")
@click.option("--lock-wait", default=0.0, show_default=True, help="Seconds to wait for another writer.")
@click.option("--threads", is_flag=True, help="A LocalCluster of threads in this process (no worker processes).")
def main(root: str, n_units: int, fail: tuple[int, ...], sleep_s: float, flush_every: int, retry_failed: bool,
         lock_wait: float, threads: bool) -> None:
    """Run the toy stage over ROOT and print its summary."""
    runner = RunnerConfig(flush_every_units=flush_every, retry_failed=retry_failed, lock_wait_s=lock_wait,
                          progress=False)
    with connect(ClusterConfig(n_workers=2, processes=not threads)) as client:
        try:
            stats = run_stage(client, DatasetRoot(root), toy_stage(), toy_units(n_units, fail=fail, sleep_s=sleep_s),
                              runner)
        except DatasetLocked as e:
            raise click.ClickException(str(e)) from e
    click.echo(stats.summary())
    if stats.n_failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
