"""The Dask scheduler: units sent to a cluster as tasks, with backpressure, per-key caps and guided batches.

What each submission detail buys (bench/results.md, harvest): a few cheap units per task (one scheduler
round trip for several), fewer towards the end of a run (no thread waits on a long last task), a bounded
number of tasks out at once (a million-unit plan never floods the scheduler), slots refilled before results
are fetched (a worker thread waits one round trip for its next task, not two), and outcomes that travel as
Arrow IPC streams (manifests.commit.UnitOutcome).
"""
from __future__ import annotations

from collections import Counter, defaultdict, deque
from typing import Any, Callable, Iterator

from distributed import Client, KilledWorker, WorkerPlugin, as_completed, get_worker

from manifests.commit import UnitOutcome
from manifests.status import UnitPayload, first_line
from manifests.tables import STATUS_FAILED
from pipelines.cluster import require_resources, worker_threads
from pipelines.stage import LazyContext, Stage, describe_error, no_context, run_units

Task = tuple[Any, list[UnitPayload]]  # (concurrency key or None, payloads that share it)


class StageContextPlugin(WorkerPlugin):
    """Builds a stage's per-worker state (a model) once per worker, on first use, and keeps it."""

    def __init__(self, name: str, make_context: Callable[[], Any]) -> None:
        self.name = name
        self.make_context = make_context
        self.context = LazyContext(make_context)

    def setup(self, worker: Any) -> None:
        self.context = LazyContext(self.make_context)


def plugin_name(stage: Stage) -> str:
    return f"hmmr-context-{stage.name}-{stage.version}"


def run_task(stage: Stage, payloads: list[UnitPayload]) -> list[UnitOutcome]:
    """A task on a worker: its units one after another, with the worker's context for the stage."""
    if stage.make_context is None:
        return run_units(stage, payloads, no_context)
    name = plugin_name(stage)
    # Looked up inside each unit's boundary: a worker without the plugin fails those units, not the task.
    return run_units(stage, payloads, lambda: get_worker().plugins[name].context())


class DaskScheduler:
    """Units as tasks on the cluster of `client`."""

    flush_by_units = True

    def __init__(self, client: Client) -> None:
        self.client = client

    def describe(self) -> str:
        return str(self.client.scheduler.address)

    def outcomes(self, stage: Stage, payloads: Iterator[UnitPayload], n_due: int, run_id: str,
                 max_in_flight: int) -> Iterator[UnitOutcome]:
        """Send the units as tasks, at most `max_in_flight` at once (0 = 16 per worker thread: enough that
        workers never wait for the client's round trip); yield outcomes as tasks finish."""
        require_resources(self.client, stage.resources, stage.name)
        if stage.make_context is not None:
            self.client.register_plugin(StageContextPlugin(plugin_name(stage), stage.make_context),
                                        name=plugin_name(stage))
        threads = max(1, worker_threads(self.client))
        key_of = stage.concurrency_key or _no_key
        tasks = batched_tasks(payloads, key_of,
                              lambda n_before: guided_batch_size(n_due - n_before, threads, stage.units_per_task))
        window = _TaskWindow(self.client, stage, run_id, tasks, max_in_flight or 16 * threads)
        window.fill()
        for finished in window.in_flight.batches():
            # Refill first, then fetch results: a worker thread waits one round trip for its next task,
            # not two (as_completed's with_results would fetch before the refill).
            done = window.release(finished)
            for (future, unit_ids), result in zip(done, _results(self.client, [future for future, _ in done])):
                future.release()
                yield from outcomes_of_task(result, unit_ids)


def _no_key(payload: UnitPayload) -> None:
    return None


class _TaskWindow:
    """The tasks out on the cluster: at most `max_in_flight`, and at most the stage's per-key cap of one
    concurrency key (politeness to one site); tasks of a saturated key wait here, a bounded number."""

    def __init__(self, client: Client, stage: Stage, run_id: str, tasks: Iterator[Task], max_in_flight: int) -> None:
        self.client, self.stage, self.run_id, self.tasks = client, stage, run_id, tasks
        self.max_in_flight = max_in_flight
        self.max_waiting = 10 * max_in_flight
        self.in_flight = as_completed()
        self.units_of_future: dict[Any, tuple[list[str], Any]] = {}
        self.running_by_key: Counter = Counter()
        self.waiting_by_key: dict[Any, deque] = defaultdict(deque)

    def fill(self) -> None:
        for _ in range(self.max_in_flight):
            if not self.submit_next():
                break

    def release(self, finished: list[Any]) -> list[tuple[Any, list[str]]]:
        """Free the slots of finished futures and refill them; (future, its unit ids) of each."""
        done = [(future, *self.units_of_future.pop(future)) for future in finished]
        for _, _, key in done:
            self.running_by_key[key] -= 1
            self.submit_next(finished_key=key)
        return [(future, unit_ids) for future, unit_ids, _ in done]

    def submit_next(self, finished_key: Any = None) -> bool:
        """Submit the next task: a waiting one of the key whose task just finished, else the next one of the
        input that its key's cap allows (setting aside those it does not). False when there is none."""
        cap = self.stage.max_in_flight_per_key
        if finished_key is not None and self.waiting_by_key.get(finished_key):
            self._submit(finished_key, self.waiting_by_key[finished_key].popleft())
            return True
        while sum(len(q) for q in self.waiting_by_key.values()) < self.max_waiting:
            key, batch = next(self.tasks, (None, None))
            if batch is None:
                return False
            if cap and key is not None and self.running_by_key[key] >= cap:
                self.waiting_by_key[key].append(batch)
                continue
            self._submit(key, batch)
            return True
        return False

    def _submit(self, key: Any, batch: list[UnitPayload]) -> None:
        unit_ids = [payload.unit_id for payload in batch]
        future = self.client.submit(run_task, self.stage, batch, resources=dict(self.stage.resources) or None,
                                    key=f"{self.stage.name}-{self.run_id}-{unit_ids[0]}", pure=False)
        self.units_of_future[future] = (unit_ids, key)
        self.running_by_key[key] += 1
        self.in_flight.add(future)


def batched_tasks(payloads: Iterator[UnitPayload], key_of: Callable[[UnitPayload], Any],
                  batch_size: Callable[[int], int], max_open: int = 64) -> Iterator[Task]:
    """(key, payloads that share the key) in input order, as the input streams in: a batch is sent when it
    holds `batch_size(n_before)` payloads (n_before: payloads read before the latest), when `max_open`
    keys have open batches (many keys must not hold the input back), or at the end."""
    open_batches: dict[Any, list[UnitPayload]] = {}
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


def outcomes_of_task(result: Any, unit_ids: list[str]) -> list[UnitOutcome]:
    """A finished task's outcomes. run_task never raises, so anything else is the error of a worker that
    died under the task (KilledWorker, ...): it fails that task's units, not the run."""
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
