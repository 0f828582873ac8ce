"""Getting a Dask client: an embedded LocalCluster by default, or an existing scheduler by address.

GPU stages submit with `resources={"GPU": 1}`. On a real cluster, GPU nodes start their workers with
`dask worker ADDRESS --resources GPU=1`. A LocalCluster declares the resource on its (CPU) workers so
that the same stages run on a laptop, with the backends on CPU.
"""
from __future__ import annotations

import atexit
import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

import dask
from distributed import Client, LocalCluster, WorkerPlugin

log = logging.getLogger(__name__)


class ClusterError(Exception):
    """The cluster cannot run a stage (no worker with a needed resource, scheduler unreachable)."""


@dataclass(frozen=True)
class ClusterConfig:
    """How to get workers.

    address: scheduler address (tcp://host:8786) of an existing cluster; None = start a LocalCluster.
    n_workers, threads_per_worker, processes, memory_limit: LocalCluster only.
    gpus_per_worker: the GPU resource each LocalCluster worker declares (see module docstring).
    dashboard_address: where the LocalCluster serves its dashboard (":0" picks a free port).
    connect_timeout_s: how long to wait for a remote scheduler.
    """

    address: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1
    processes: bool = True
    memory_limit: str = "auto"
    gpus_per_worker: int = 1
    dashboard_address: str = ":0"
    connect_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.n_workers < 1:
            raise ValueError(f"ClusterConfig.n_workers must be >= 1, got {self.n_workers}")
        if self.threads_per_worker < 1:
            raise ValueError(f"ClusterConfig.threads_per_worker must be >= 1, got {self.threads_per_worker}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"ClusterConfig.gpus_per_worker must be >= 0, got {self.gpus_per_worker}")


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, so that freed memory goes back to the
# OS sooner. Setting it also pins glibc's mmap threshold at 128 KiB: every larger buffer (a downloaded
# block, a decoded frame) is then a fresh mmap, page faults and all, each time. Our units allocate the
# same sizes over and over; with glibc's adaptive threshold a harvested video cost ~40% less worker CPU.
# None drops Dask's default; a value set in the environment still reaches the workers.
WORKER_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


_EXIT_HOOKED = False


def skip_last_garbage_collection() -> None:
    """At exit, Python collects garbage once more over every object the process holds: ~0.15 s for a
    process with pandas, pyarrow and dask loaded, for each of a LocalCluster's workers and the client, a
    tenth of a short command's wall time. Freezing the heap at exit (`gc.freeze`) makes that collection
    skip it. Nothing is lost: our files are written and closed explicitly, atexit handlers (logging's
    flush) still run, and the OS takes the memory back."""
    global _EXIT_HOOKED
    if not _EXIT_HOOKED:
        atexit.register(gc.freeze)  # atexit runs handlers last-in first-out: this one before logging's
        _EXIT_HOOKED = True


class _SkipLastGarbageCollection(WorkerPlugin):
    """skip_last_garbage_collection in each worker process of a LocalCluster we started (and in a worker
    its nanny restarts): their exit was most of the time it took to shut the cluster down."""

    def setup(self, worker) -> None:
        skip_last_garbage_collection()


@contextmanager
def connect(config: ClusterConfig) -> Iterator[Client]:
    """A client for the duration of a command; a LocalCluster it started is shut down afterwards."""
    skip_last_garbage_collection()  # in this, the command's process
    if config.address:
        try:
            client = Client(config.address, timeout=config.connect_timeout_s)
        except OSError as e:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {config.address} within {config.connect_timeout_s:.0f} s; "
                f"start one with `dask scheduler` and workers with `dask worker {config.address} --resources GPU=1`"
            ) from e
        log.info("joined the Dask cluster at %s (dashboard: %s)", config.address, client.dashboard_link)
        try:
            yield client
        finally:
            client.close()
        return
    resources = {"GPU": config.gpus_per_worker} if config.gpus_per_worker else None
    with dask.config.set(WORKER_ENVIRON):
        cluster = LocalCluster(
            n_workers=config.n_workers,
            threads_per_worker=config.threads_per_worker,
            processes=config.processes,
            memory_limit=config.memory_limit,
            resources=resources,
            dashboard_address=config.dashboard_address,
            silence_logs=logging.WARNING,
        )
    client = Client(cluster)
    client.register_plugin(_SkipLastGarbageCollection(), name="hmmr-skip-last-gc")
    log.info(
        "started a LocalCluster: %d workers x %d threads (dashboard: %s)",
        config.n_workers, config.threads_per_worker, client.dashboard_link,
    )
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def worker_threads(client: Client) -> int:
    """Total task threads across the cluster's workers."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return sum(int(w.get("nthreads", 1)) for w in workers.values())


def require_resources(client: Client, resources: Mapping[str, float], stage: str) -> None:
    """Fail before submitting if no worker declares the resources a stage needs (it would wait forever)."""
    if not resources:
        return
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    for worker in workers:
        declared = worker.get("resources", {})
        if all(declared.get(name, 0) >= amount for name, amount in resources.items()):
            return
    wanted = " ".join(f"{k}={v:g}" for k, v in resources.items())
    raise ClusterError(
        f"stage {stage!r} needs workers with resources {wanted}, and none of the {len(workers)} workers "
        f"declares them; start workers with `dask worker SCHEDULER --resources {wanted.replace(' ', ',')}`"
    )
