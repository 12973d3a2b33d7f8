"""Shared fixtures: one Dask LocalCluster for the whole session.

Tests that only need *a* cluster run on :func:`dask_cluster` (two worker
processes of one thread, no fixed port); tests of the cluster itself (a
remote scheduler, a thread-only topology, the console script) start their
own.
"""

from __future__ import annotations

import pytest

from rpf.config import ExecutionConfig


@pytest.fixture(scope="session")
def dask_cluster():
    """A caller-owned :class:`rpf.pipeline.Cluster`: 2 worker processes x 1 thread, dashboard on a free port."""
    from rpf.pipeline import start_cluster

    cluster = start_cluster(ExecutionConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
    yield cluster
    cluster.close()
