"""The one Dask cluster of a dashboard server process, shared by every session.

Starting a local cluster takes seconds, so :class:`SharedCluster` starts it on
a background thread and sessions read its :attr:`~SharedCluster.state` from
their periodic callbacks; nothing here blocks a server's event loop.  The
cluster comes from :mod:`rpf.pipeline` (the app never imports Dask).
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from rpf.config import ExecutionConfig
from rpf.errors import RPFError

__all__ = ["ClusterStatus", "SharedCluster", "shared_cluster"]


@dataclass(frozen=True)
class ClusterStatus:
    """What a session shows about the cluster.

    Attributes
    ----------
    state : str
        ``"starting"``, ``"ready"``, ``"failed"`` or ``"closed"``.
    message : str
        One line for the page (address and workers, or the error).
    dashboard : str or None
        Link to the Dask dashboard.
    """

    state: str
    message: str
    dashboard: str | None = None


class SharedCluster:
    """A Dask cluster started in the background and closed with the server.

    Parameters
    ----------
    execution : ExecutionConfig
        Local-cluster size, or the scheduler address.
    scheduler : str, optional
        An existing scheduler (``--scheduler``); wins over ``execution``.
    """

    def __init__(self, execution: ExecutionConfig, *, scheduler: str | None = None) -> None:
        self.execution = execution
        self.scheduler = scheduler
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._client: Any = None
        self._status = ClusterStatus("starting", "starting the Dask cluster ...")
        self._thread = threading.Thread(target=self._start, daemon=True, name="rpf-dashboard-cluster")
        self._thread.start()

    def _start(self) -> None:
        from rpf.pipeline import open_client
        from rpf.pipeline.cluster import cluster_info

        try:
            client = self._stack.enter_context(open_client(self.execution, scheduler=self.scheduler))
            info = cluster_info(client)
        except Exception as exc:  # noqa: BLE001 - any start failure becomes a message in the page
            reason = str(exc) if isinstance(exc, RPFError | OSError) else f"{type(exc).__name__}: {exc}"
            status = ClusterStatus("failed", f"the Dask cluster is not available: {reason}")
            client = None
        else:
            kind = "local cluster" if info.local else "scheduler"
            workers = f"{info.n_workers} worker{'s' * (info.n_workers != 1)}"
            status = ClusterStatus("ready", f"{kind} {info.scheduler}, {workers}", info.dashboard)
        with self._lock:
            self._client, self._status = client, status

    @property
    def status(self) -> ClusterStatus:
        """The cluster's state now (never waits)."""
        with self._lock:
            return self._status

    @property
    def client(self) -> Any:
        """The synchronous ``distributed.Client`` once ready (usable from any thread), else None."""
        with self._lock:
            return self._client

    def wait(self, timeout: float | None = None) -> ClusterStatus:
        """Block until the cluster started or failed (scripts and tests only, never a callback)."""
        self._thread.join(timeout)
        return self.status

    def close(self) -> None:
        """Close the client and stop a local cluster."""
        self._thread.join()
        with self._lock:
            self._client = None
            self._status = ClusterStatus("closed", "the Dask cluster was closed")
        self._stack.close()


_SHARED: dict[tuple[str, ...], SharedCluster] = {}
_SHARED_LOCK = threading.Lock()


def shared_cluster(execution: ExecutionConfig, *, scheduler: str | None = None) -> SharedCluster:
    """Return this process's cluster for these settings, starting it on first use.

    Every session of a server (``rpf serve`` or ``panel serve``) gets the
    same object; a failed cluster is replaced on the next call (a retry).
    """
    key = (repr(execution), scheduler or "")
    with _SHARED_LOCK:
        cluster = _SHARED.get(key)
        if cluster is None or cluster.status.state in ("failed", "closed"):
            cluster = _SHARED[key] = SharedCluster(execution, scheduler=scheduler)
        return cluster
