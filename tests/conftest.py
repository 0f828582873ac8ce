"""Fixtures shared by every test package: a real LocalCluster and a fresh dataset root."""
from __future__ import annotations

import pytest

from manifests import DatasetRoot


@pytest.fixture(scope="session")
def client():
    """A real LocalCluster of 2 worker processes, as `hmmr-pseudolabel run` starts by default."""
    from pipelines.cluster import ClusterConfig, connect

    with connect(ClusterConfig(n_workers=2, threads_per_worker=1, memory_limit="4GiB")) as dask_client:
        yield dask_client


@pytest.fixture
def root(tmp_path) -> DatasetRoot:
    return DatasetRoot(tmp_path / "dataset")
