"""The generic runner on a real LocalCluster: status rows, incremental re-runs, --retry-failed, stats."""
from __future__ import annotations

import json
import os

import pytest

from dataclasses import replace

from manifests import latest_status, read_table
from manifests.status import UnitResult
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, run_stage
from pipelines.stage import Stage
from testing.toy import TOY, ToyPayload, ToyRows, toy_stage, toy_units

QUIET = RunnerConfig(flush_every_units=25, progress=False)


def expected_rows(n_units: int, failed: set[int] = frozenset()) -> int:
    return sum(i % 3 + 1 for i in range(n_units) if i not in failed)


def test_200_units_one_failing_then_rerun_then_retry(client, root):
    stats = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(200, fail=(17,)), QUIET)
    assert (stats.n_ok, stats.n_failed, stats.n_skipped) == (199, 1, 0)
    assert stats.failures[0].unit_id == "u00017"
    assert "unit u00017 was told to fail" in stats.failures[0].message
    assert stats.failed_by_reason == {"ToyFailure": 1}
    assert stats.n_flushes == 8

    status = latest_status(root, "toy")
    assert (status["status"] == "ok").sum() == 199
    failed = status[status["status"] == "failed"]
    assert failed.index.tolist() == ["u00017"]
    assert failed.iloc[0]["reason"] == "ToyFailure"
    assert "told to fail" in failed.iloc[0]["message"]
    assert len(read_table(root, TOY)) == expected_rows(200, {17})

    # The failure is fixed upstream, but a plain re-run does nothing and says so.
    again = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(200), QUIET)
    assert (again.n_due, again.n_ok, again.n_already_done, again.n_failed_not_retried) == (0, 0, 199, 1)
    assert "nothing to do" in again.summary() and "--retry-failed" in again.summary()

    retried = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(200),
                        RunnerConfig(retry_failed=True, progress=False))
    assert (retried.n_due, retried.n_ok, retried.n_failed) == (1, 1, 0)
    table = read_table(root, TOY)
    assert len(table) == expected_rows(200)
    assert not table.duplicated(["unit_id", "row"]).any()
    assert latest_status(root, "toy").loc["u00017", "status"] == "ok"


def test_run_folder_holds_config_stats_and_log(client, root):
    stats = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(10, skip=(3, 4)), QUIET)
    run_dir = root.runs_dir / stats.run_id
    config = json.loads((run_dir / "config.json").read_text())
    assert config["stage"] == "toy" and config["runner"]["flush_every_units"] == 25
    saved = json.loads((run_dir / "stats.json").read_text())
    assert saved["n_ok"] == 8 and saved["n_skipped"] == 2 and saved["skipped_by_reason"] == {"told_to_skip": 2}
    assert "toy: 8 ok, 0 failed, 2 skipped" in (run_dir / "log").read_text()


def test_new_units_only_are_done_and_a_version_bump_redoes_all(client, root):
    run_stage(DaskScheduler(client), root, toy_stage(), toy_units(30), QUIET)
    grown = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(45), QUIET)
    assert (grown.n_due, grown.n_ok, grown.n_already_done) == (15, 15, 30)
    bumped = run_stage(DaskScheduler(client), root, toy_stage(version="2"), toy_units(45), QUIET)
    assert bumped.n_ok == 45
    assert len(read_table(root, TOY)) == expected_rows(45)  # version 2 rows replace version 1 rows


def test_going_back_to_an_earlier_version_redoes_the_units_another_version_redid(client, root):
    """Settings A, then B, then A again (a user tries a tracker setting and goes back): the live rows are
    B's, so the units are due again at A. They counted as done at A, and the tables kept B's rows."""
    scheduler = DaskScheduler(client)
    run_stage(scheduler, root, toy_stage(version="A"), toy_units(10), QUIET)
    run_stage(scheduler, root, toy_stage(version="B"), toy_units(6), QUIET)  # 6 of the 10 redone at B
    back = run_stage(scheduler, root, toy_stage(version="A"), toy_units(10), QUIET)
    assert (back.n_due, back.n_ok, back.n_already_done) == (6, 6, 4)
    assert set(latest_status(root, "toy")["version"]) == {"A"}
    again = run_stage(scheduler, root, toy_stage(version="A"), toy_units(10), QUIET)
    assert (again.n_due, again.n_already_done) == (0, 10)


def test_a_unit_returning_a_bad_table_fails_alone(client, root):
    stage = Stage(name="toy", version="1", outputs=(TOY,), work=_bad_work)
    stats = run_stage(DaskScheduler(client), root, stage, toy_units(4), QUIET)
    assert stats.n_ok == 3 and stats.n_failed == 1
    assert stats.failures[0].reason == "SchemaError"
    assert "column 'row'" in stats.failures[0].message and "unit 'u00002'" in stats.failures[0].message


def _bad_work(payload, context):
    row = "two" if payload.index == 2 else 0
    return UnitResult(rows=(ToyRows(unit_id=[payload.unit_id], row=[row], value=[1.0]),))


def test_units_need_unique_ids(client, root):
    units = toy_units(3)
    units[2] = replace(units[2], unit_id="u00000")
    with pytest.raises(ValueError, match="unit id 'u00000' appears more than once"):
        run_stage(DaskScheduler(client), root, toy_stage(), units, QUIET)


def test_a_stage_needing_a_resource_no_worker_has_fails_fast(client, root):
    from pipelines.cluster import ClusterError

    stage = Stage(name="toy", version="1", outputs=(TOY,), work=_bad_work, resources={"TPU": 1})
    with pytest.raises(ClusterError, match=r"needs workers with resources TPU=1.*--resources TPU=1"):
        run_stage(DaskScheduler(client), root, stage, toy_units(2), QUIET)


def test_the_context_is_built_once_per_worker(client, root):
    stage = Stage(name="toy", version="1", outputs=(), work=_report_context, make_context=_make_context)
    stats = run_stage(DaskScheduler(client), root, stage, toy_units(40), QUIET)
    assert stats.n_ok == 40
    builds = [name for name in stats.counters if name.startswith("build-")]
    assert 1 <= len(builds) <= 2  # 2 workers: at most 2 builds, shared by all 40 units
    assert sum(stats.counters[name] for name in builds) == 40


def _make_context():
    import os
    import time

    return {"pid": os.getpid(), "built": time.time_ns()}


def _report_context(payload, context):
    return UnitResult(counters={f"build-{context['pid']}-{context['built']}": 1})


def _statuses_and_rows(root):
    status = latest_status(root, "toy")[["status", "reason"]].sort_index()
    rows = read_table(root, TOY).sort_values(["unit_id", "row"]).reset_index(drop=True)
    return status, rows


def test_batched_tasks_and_in_process_runs_commit_what_one_unit_per_task_does(client, tmp_path):
    from manifests import DatasetRoot
    from pipelines.scheduler import InProcessScheduler

    units = toy_units(50, fail=(17,), skip=(3,))
    results = {}
    cluster = DaskScheduler(client)
    for name, stage, scheduler in (("plain", toy_stage(), cluster),
                                   ("batched", replace(toy_stage(), units_per_task=7), cluster),
                                   ("in_process", toy_stage(), InProcessScheduler())):
        root = DatasetRoot(tmp_path / name)
        stats = run_stage(scheduler, root, stage, units, RunnerConfig(progress=False, flush_every_units=8))
        assert (stats.n_ok, stats.n_failed, stats.n_skipped) == (48, 1, 1), name
        # Units done in the client cost microseconds: one flush at the end, not one per 8 units.
        assert stats.n_flushes == (1 if name == "in_process" else 7), name
        results[name] = _statuses_and_rows(root)
    for name in ("batched", "in_process"):
        assert results[name][0].equals(results["plain"][0]), name
        assert results[name][1].equals(results["plain"][1]), name


def _timed_work(payload, context):
    import time

    started = time.time()
    time.sleep(0.05)
    return UnitResult(rows=(ToyRows(unit_id=[payload.unit_id] * 2, row=[0, 1], value=[started, time.time()]),))


def test_the_per_key_cap_holds_when_units_are_batched(client, root):
    """Two sites, at most one unit of each running at a time, in tasks of three units (two workers would
    run two tasks of site a at once without the cap)."""
    units = [ToyPayload(unit_id=f"u{i:02d}", site="a" if i < 27 else "b") for i in range(36)]
    stage = Stage(name="toy", version="1", outputs=(TOY,), work=_timed_work, units_per_task=3,
                  concurrency_key=lambda payload: payload.site, max_in_flight_per_key=1)
    stats = run_stage(DaskScheduler(client), root, stage, units, QUIET)
    assert stats.n_ok == 36
    rows = read_table(root, TOY).pivot(index="unit_id", columns="row", values="value")
    for site in ("a", "b"):
        spans = rows.loc[[unit.unit_id for unit in units if unit.site == site]].sort_values(0).to_numpy()
        assert (spans[1:, 0] >= spans[:-1, 1] - 1e-3).all(), f"two units of site {site} overlapped"


def test_tasks_group_units_of_one_key_and_never_hold_the_input_back():
    from pipelines.dask_scheduler import batched_tasks

    payloads = [ToyPayload(unit_id=f"u{i}", site=site) for i, site in enumerate("aabababbbcc")]
    tasks = list(batched_tasks(iter(payloads), lambda p: p.site, lambda n_before: 3))
    assert all(len({p.site for p in batch}) == 1 and key == batch[0].site for key, batch in tasks)
    assert sorted(p.unit_id for _, batch in tasks for p in batch) == sorted(p.unit_id for p in payloads)
    assert max(len(batch) for _, batch in tasks) == 3
    # With more open keys than max_open, the oldest open batch is sent at once, not at the end.
    many = [ToyPayload(unit_id=f"u{i}", site=f"s{i}") for i in range(10)]
    stream = batched_tasks(iter(many), lambda p: p.site, lambda n_before: 5, max_open=3)
    assert next(stream) == ("s0", [many[0]])


def test_tasks_shrink_towards_the_end_of_a_run():
    """Guided sizes: big tasks while much is left, single units at the end (no thread idles on a long tail)."""
    from pipelines.dask_scheduler import batched_tasks, guided_batch_size

    payloads = [ToyPayload(unit_id=f"u{i}") for i in range(200)]
    sizes = [len(batch) for _, batch in batched_tasks(iter(payloads), lambda p: "site",
                                                      lambda n_before: guided_batch_size(200 - n_before, 16, 8))]
    assert sum(sizes) == 200 and sizes[0] == 8 and max(sizes) == 8
    assert sizes == sorted(sizes, reverse=True) and sizes[-15:] == [1] * 15
    assert len(sizes) < 200 // 3  # fewer round trips than the fixed 3 a task that gave 16 threads 4 tasks each


@pytest.mark.slow
def test_a_unit_that_kills_its_worker_fails_and_the_run_goes_on(root):
    """A crash in native code takes the worker process with it: the scheduler retries the task elsewhere,
    then gives up on it (KilledWorker). Its unit gets a failed row; the others still finish, including
    results lost with a dead worker before the client fetched them. (Dask also counts a death against
    tasks that were waiting on that worker, so a neighbour can fail with it; --retry-failed redoes them.)"""
    from pipelines.cluster import ClusterConfig, connect

    # A cluster of its own: the unit kills a worker each time Dask tries it (4 times by default).
    with connect(ClusterConfig(n_workers=2, memory_limit="2GiB")) as client:
        stats = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(12, die=(5,)), QUIET)
        status = latest_status(root, "toy")
        assert status.loc["u00005", "status"] == "failed" and status.loc["u00005", "reason"] == "KilledWorker"
        message = status.loc["u00005", "message"]  # the unit (a video, in pseudolabel) and the likely cause
        assert "worker process running unit u00005 died" in message and "out of memory" in message, message
        assert stats.n_ok + stats.n_failed == 12 and stats.n_ok >= 8, stats.failures
        assert set(stats.failed_by_reason) == {"KilledWorker"}
        assert len(read_table(root, TOY)) == expected_rows(12, {int(unit[1:]) for unit in status.index[status["status"] != "ok"]})

        retried = run_stage(DaskScheduler(client), root, toy_stage(), toy_units(12),
                            RunnerConfig(retry_failed=True, progress=False))
    assert (retried.n_due, retried.n_ok) == (stats.n_failed, stats.n_failed)
    assert len(read_table(root, TOY)) == expected_rows(12)


def test_local_workers_keep_glibcs_adaptive_malloc(client):
    """Dask's default MALLOC_TRIM_THRESHOLD_ costs every worker a fresh mmap per large buffer (see
    pipelines.cluster); our LocalCluster's workers start without it unless the user sets it."""
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # the test process: nothing set by hand or by a nanny
    assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}


def test_local_workers_skip_the_last_garbage_collection_at_exit(client):
    """Our LocalCluster's workers (and the client) freeze their heap at exit instead of collecting it once
    more (see pipelines.cluster.skip_last_garbage_collection): the hook reaches every worker."""
    from pipelines import cluster

    def hooked() -> bool:
        from pipelines import cluster
        return cluster._EXIT_HOOKED

    assert set(client.run(hooked).values()) == {True} and cluster._EXIT_HOOKED


def test_an_outcome_crosses_processes_with_its_tables_whole():
    """Outcomes travel as Arrow IPC streams: types, nulls, nested lists and schema metadata all survive."""
    import pickle
    from datetime import datetime, timezone

    import pyarrow as pa

    from manifests.commit import UnitOutcome

    table = pa.table({"id": ["a", None], "at": pa.array([datetime(2026, 1, 1, tzinfo=timezone.utc), None],
                                                        pa.timestamp("us", tz="UTC")),
                      "xy": pa.array([[1.5, 2.0], []], pa.list_(pa.float32()))}).replace_schema_metadata({"v": "1"})
    outcome = UnitOutcome("u1", "ok", tables={"t": table}, counters={"frames": 2.0})
    copy = pickle.loads(pickle.dumps(outcome, protocol=5))
    assert copy.tables["t"].equals(table, check_metadata=True)
    assert (copy.unit_id, copy.counters, copy.n_bytes, copy.finished_at) == ("u1", {"frames": 2.0}, outcome.n_bytes,
                                                                           outcome.finished_at)
