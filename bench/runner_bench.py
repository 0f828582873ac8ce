"""Runner overhead: no-op units/s through run_stage vs raw client.map, and planning a million keys."""
from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from bench.report import Section, best_of
from manifests import UNIT_ID, DatasetRoot, status_spec, to_table, write_part
from pipelines.cluster import ClusterConfig, connect
from pipelines.dask_scheduler import DaskScheduler
from pipelines.plan import plan_units
from pipelines.runner import RunnerConfig, run_stage
from testing.toy import ToyPayload, noop_work, toy_stage, toy_units

N_UNITS = 2000
N_PLAN = 1_000_000


def _noop(payload):
    return noop_work(payload, None)


def run() -> list[Section]:
    section = Section(
        "Runner overhead (issue 2)",
        f"A no-op unit through `run_stage` (plan, submit with backpressure, collect, flush parts + status) on a "
        f"LocalCluster of 2 worker processes, against the same {N_UNITS} no-op tasks sent with plain "
        f"`client.map` + `gather` on the same cluster. Planning: {N_PLAN:,} input keys against a status table "
        f"that already holds {N_PLAN // 2:,} ok rows.",
        ["measure", "value", "baseline", "ratio"],
    )
    with tempfile.TemporaryDirectory() as folder, connect(ClusterConfig(n_workers=2)) as client:
        units = toy_units(N_UNITS)
        raw_s = best_of(2, lambda: client.gather(client.map(_noop, units, pure=False)))
        roots = iter(range(10))
        runner = RunnerConfig(flush_every_units=256, progress=False)
        ours_s = best_of(2, lambda: run_stage(DaskScheduler(client), DatasetRoot(Path(folder) / f"r{next(roots)}"),
                                              toy_stage(noop=True), units, runner))
        section.rows.append(["no-op units/s", f"{N_UNITS / ours_s:,.0f}", f"{N_UNITS / raw_s:,.0f} (client.map)",
                             f"{raw_s / ours_s:.2f}x"])

        root = DatasetRoot(Path(folder) / "plan")
        _write_ok_status(root, "toy", N_PLAN // 2)
        keys = [ToyPayload(unit_id=f"u{i:07d}") for i in range(N_PLAN)]
        started = time.perf_counter()
        plan = plan_units(root, toy_stage(noop=True), keys, retry_failed=False)
        plan_s = time.perf_counter() - started
        assert len(plan.due) == N_PLAN - N_PLAN // 2 and plan.n_already_done == N_PLAN // 2
        section.rows.append([f"plan {N_PLAN:,} keys", f"{plan_s:.2f} s", "-", "-"])
    return [section]


def _write_ok_status(root: DatasetRoot, stage: str, n: int, per_part: int = 50_000) -> None:
    now = datetime.now(timezone.utc)
    for part, start in enumerate(range(0, n, per_part)):
        ids = [f"u{i:07d}" for i in range(start, min(n, start + per_part))]
        m = len(ids)
        flush_id = f"bench-{part:06d}"
        table = to_table(status_spec(stage), {
            UNIT_ID: pa.array(ids), "stage": pa.array([stage] * m), "version": pa.array(["1"] * m),
            "status": pa.array(["ok"] * m), "reason": pa.nulls(m, pa.string()), "message": pa.nulls(m, pa.string()),
            "run_id": pa.array(["bench"] * m), "flush_id": pa.array([flush_id] * m),
            "finished_at": pa.array([now] * m, pa.timestamp("us", tz="UTC")), "duration_s": pa.array([0.0] * m)})
        write_part(root, status_spec(stage), table, flush_id)
