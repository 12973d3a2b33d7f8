"""Where the frames run: an embedded local Dask cluster or an existing scheduler.

:func:`start_cluster` returns a caller-owned :class:`Cluster` (a dashboard
keeps one per server process); :func:`open_client` is the same as a context
manager (what a run without a client uses).  Both start a
:class:`distributed.LocalCluster` unless a scheduler address is given by the
caller (``--scheduler``), the configuration (``execution.scheduler``) or the
``RPF_SCHEDULER`` environment variable, in that order; a remote scheduler is
only connected to and disconnected from, never shut down.

Local worker processes start with :data:`WORKER_ENVIRON`: one BLAS/OpenMP
thread each (the cores are shared by worker processes, not by threads of
one) and glibc's own ``malloc`` trimming instead of Dask's fixed
``MALLOC_TRIM_THRESHOLD_``, which made every large numpy temporary a fresh
``mmap`` and the stages about 15% slower than in a plain process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import dask
from distributed import Client, LocalCluster
from distributed.comm import get_address_host

from rpf.config import ExecutionConfig
from rpf.errors import ConfigError

__all__ = [
    "WORKER_ENVIRON",
    "Capacity",
    "Cluster",
    "ClusterInfo",
    "cluster_capacity",
    "cluster_info",
    "open_client",
    "resolve_scheduler",
    "start_cluster",
    "task_threads",
]

SCHEDULER_ENV = "RPF_SCHEDULER"

WORKER_ENVIRON = {
    "OMP_NUM_THREADS": 1,
    "MKL_NUM_THREADS": 1,
    "OPENBLAS_NUM_THREADS": 1,
    "MALLOC_TRIM_THRESHOLD_": None,
}
"""``distributed.nanny.pre-spawn-environ`` of local worker processes (None: not set)."""

LOCAL_SCHEDULER_CONFIG = {
    "distributed.nanny.pre-spawn-environ": WORKER_ENVIRON,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.profile.enabled": False,
}
"""Dask settings of the embedded cluster (``deploy/dask.yaml`` sets the same for remote ones).

A worker saturation of 1.0 gives a worker a new frame only when a thread is
free: each thread holds one frame and finishes it before the next, so
results stream in order and memory holds one frame per thread (at 1.1,
Dask's default, a one-thread worker interleaves the stages of two frames).
The workers' statistical profiler (a thread sampling the task's stack every
10 ms, for the Dask dashboard's Profile page) is off: the stages are
mostly Python between NumPy calls, and sharing the interpreter lock with it
made a lone 2048² frame's steps about 5% slower and a night on two workers 2% slower.
"""


@dataclass(frozen=True)
class ClusterInfo:
    """What a run is connected to.

    Attributes
    ----------
    scheduler : str
        Scheduler address (``tcp://host:port``).
    dashboard : str or None
        Link to the Dask dashboard.
    local : bool
        True for a cluster started by RPF for this run.
    n_workers : int
        Workers connected when asked.
    """

    scheduler: str
    dashboard: str | None
    local: bool
    n_workers: int


def resolve_scheduler(execution: ExecutionConfig, scheduler: str | None = None) -> str | None:
    """Return the scheduler address to use, or None for a local cluster.

    Parameters
    ----------
    execution : ExecutionConfig
        The run's execution settings.
    scheduler : str, optional
        An address given explicitly (``--scheduler``); it wins.

    Returns
    -------
    str or None
        ``scheduler``, else ``execution.scheduler``, else ``$RPF_SCHEDULER``.
    """
    address = scheduler or execution.scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address is not None and "://" not in address and ":" not in address:
        raise ConfigError(f"scheduler address {address!r} must look like tcp://host:8786")
    return address


def cluster_info(client: Client) -> ClusterInfo:
    """Describe the cluster a client is connected to."""
    info = client.scheduler_info()
    return ClusterInfo(
        scheduler=client.scheduler.address,
        dashboard=client.dashboard_link if _has_dashboard(client) else None,
        local=isinstance(client.cluster, LocalCluster),
        n_workers=len(info.get("workers", {})),
    )


@dataclass(frozen=True)
class Capacity:
    """The cores a cluster has and how many tasks it runs at once.

    Attributes
    ----------
    slots : int
        Worker threads (tasks that run at once).
    cores : int
        Cores of every host with a worker (each host counted once).
    host_cores : int
        Cores of the largest host (no task can use more).
    busy : int
        Tasks running or queued on the workers when asked (other runs).
    """

    slots: int
    cores: int
    host_cores: int
    busy: int = 0


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cluster_capacity(client: Client) -> Capacity:
    """Ask the workers how many cores their hosts have and how busy they are.

    Workers on one host share its cores (the largest count any of them
    reports); one round trip to every worker.
    """
    slots = sum(client.nthreads().values())
    by_host: dict[str, int] = {}
    for address, cores in client.run(_usable_cores).items():
        host = get_address_host(address)
        by_host[host] = max(by_host.get(host, 0), int(cores))
    busy = sum(len(keys) for keys in client.processing().values())
    return Capacity(slots=slots, cores=sum(by_host.values()), host_cores=max(by_host.values(), default=1), busy=busy)


def task_threads(capacity: Capacity, *, tasks: int) -> int:
    """Threads each of ``tasks`` tasks submitted now may use: the free cores shared among the tasks that run at once.

    ``min(tasks + busy, slots)`` tasks run at once; each gets an equal
    share of the cluster's cores, at most one host's cores and at least one.
    A night (at least as many frames as worker threads on as many cores)
    gets one thread per task; a lone frame gets a whole host.

    Parameters
    ----------
    capacity : Capacity
        From :func:`cluster_capacity`.
    tasks : int
        Tasks that could run at once (frames of the run; 1 for the masters).
    """
    running = max(1, min(tasks + capacity.busy, capacity.slots))
    return max(1, min(capacity.cores // running, capacity.host_cores))


def _has_dashboard(client: Client) -> bool:
    try:
        return bool(client.dashboard_link)
    except (KeyError, AttributeError):
        return False


def _dashboard(address: str | None) -> dict:
    """LocalCluster options for a dashboard at ``address``, or none at all.

    The scheduler's HTTP server (health checks, metrics) starts even without
    a dashboard, on port 8787 unless told otherwise: without a dashboard it
    gets any free port, so that no run ever binds a fixed port it was not asked to.
    """
    if address is None:
        return {"dashboard_address": ":0", "scheduler_kwargs": {"dashboard": False}}
    return {"dashboard_address": address}


class Cluster:
    """A Dask cluster owned by the caller: a local one started here, or a connection to a scheduler.

    A dashboard keeps one per server process and passes :attr:`client` to
    every :func:`rpf.pipeline.start_run`; no run then starts or stops a
    cluster of its own.  Use it as a context manager, or call :meth:`close`.

    Attributes
    ----------
    client : distributed.Client
        A synchronous client, safe to use from any thread.
    info : ClusterInfo
        Scheduler address, dashboard link, whether it is local, workers at start.
    """

    def __init__(self, client: Client, local: LocalCluster | None, *, dashboard: bool = True) -> None:
        self.client = client
        self._local = local
        info = cluster_info(client)
        self.info = info if dashboard else replace(info, dashboard=None)

    def close(self) -> None:
        """Disconnect; stop the cluster if it was started here (a remote scheduler is left running)."""
        try:
            self.client.close()
        finally:
            if self._local is not None:
                self._local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _environ_kept() -> Iterator[None]:
    """Give this process its environment back after Dask's nannies wrote theirs into it.

    A nanny sets ``distributed.nanny.pre-spawn-environ`` (one OpenMP thread,
    ...) and ``PYTHONHASHSEED`` in ``os.environ`` of the process that starts
    it, and leaves them there: everything this process started afterwards
    (an eager run in a subprocess, ``solve-field``) ran on one thread.  A
    nanny restarting a dead worker later sets them again until the cluster
    closes.
    """
    before = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        os.environ.update({k: v for k, v in before.items() if os.environ.get(k) != v})


def start_cluster(execution: ExecutionConfig, *, scheduler: str | None = None, timeout: float = 30.0) -> Cluster:
    """Start a local Dask cluster, or connect to a scheduler, for as long as the caller keeps it.

    Parameters
    ----------
    execution : ExecutionConfig
        Local-cluster size (``n_workers``, ``threads_per_worker``,
        ``memory_limit``, ``processes``, ``dashboard_address``: ``":0"`` for
        any free port, None for none) or the scheduler address.
    scheduler : str, optional
        An existing scheduler (wins over the configuration and ``RPF_SCHEDULER``).
    timeout : float
        Seconds to wait for the connection.

    Returns
    -------
    Cluster
        Its ``client`` is synchronous and usable from any thread.

    Raises
    ------
    rpf.errors.ConfigError
        The scheduler address is malformed or cannot be reached.

    Examples
    --------
    >>> from rpf.config import ExecutionConfig
    >>> cluster = start_cluster(ExecutionConfig(n_workers=2, dashboard_address=":0"))  # doctest: +SKIP
    >>> handle = start_run(request, client=cluster.client)  # doctest: +SKIP
    >>> cluster.close()  # doctest: +SKIP
    """
    address = resolve_scheduler(execution, scheduler)
    if address is not None:
        try:
            client = Client(address, timeout=timeout)
        except OSError as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc
        return Cluster(client, None)
    with dask.config.set(LOCAL_SCHEDULER_CONFIG), _environ_kept():
        local = LocalCluster(
            n_workers=execution.local_workers,
            threads_per_worker=execution.threads_per_worker,
            memory_limit=execution.memory_limit,
            processes=execution.processes,
            **_dashboard(execution.dashboard_address),
            **({"host": "127.0.0.1"} if execution.processes else {}),
        )
    try:
        client = Client(local, timeout=timeout)
    except BaseException:
        local.close()
        raise
    return Cluster(client, local, dashboard=execution.dashboard_address is not None)


@contextmanager
def open_client(execution: ExecutionConfig, *, scheduler: str | None = None, timeout: float = 30.0) -> Iterator[Client]:
    """Connect to a Dask cluster for the duration of a ``with`` block (:func:`start_cluster` as a context).

    Parameters
    ----------
    execution : ExecutionConfig
        Local-cluster size or the scheduler address (see :func:`start_cluster`).
    scheduler : str, optional
        An existing scheduler (wins over the configuration and the environment).
    timeout : float
        Seconds to wait for the connection.

    Yields
    ------
    distributed.Client
        A synchronous client; :func:`cluster_info` gives its dashboard link.

    Examples
    --------
    >>> from rpf.config import ExecutionConfig
    >>> with open_client(ExecutionConfig(n_workers=1, dashboard_address=None)) as client:  # doctest: +SKIP
    ...     print(cluster_info(client).dashboard)
    """
    with start_cluster(execution, scheduler=scheduler, timeout=timeout) as cluster:
        yield cluster.client
