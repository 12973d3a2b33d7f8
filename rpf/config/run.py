"""Configuration sections of where a run executes and what it writes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rpf.config.image import _check

__all__ = ["ExecutionConfig", "OutputConfig"]


@dataclass(frozen=True)
class ExecutionConfig:
    """Where and how the work runs.

    Attributes
    ----------
    scheduler : str or None
        Address of an existing Dask scheduler (else ``RPF_SCHEDULER`` or a local cluster).
    n_workers : int or None
        Workers of the local cluster; ``None`` (default): one per core this
        process may run on (``os.sched_getaffinity``), since each worker
        thread processes one frame on one core.
    threads_per_worker : int
        Threads per local worker.
    memory_limit : str
        Memory limit per local worker (Dask syntax).
    retries : int
        Retries of a task that raised (a task whose worker died is also
        rescheduled by Dask, up to ``distributed.scheduler.allowed-failures``).
    processes : bool
        Local workers are processes (else threads of this process).
    dashboard_address : str or None
        Where the local cluster serves the Dask dashboard (``":0"`` any free
        port, None none).
    share_references : bool
        Query the reference catalogue once per group of overlapping fields.
    """

    scheduler: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    memory_limit: str = "auto"
    retries: int = 2
    processes: bool = True
    dashboard_address: str | None = ":8787"
    share_references: bool = True

    @property
    def local_workers(self) -> int:
        """Workers to start for a local cluster: ``n_workers``, else one per usable core."""
        if self.n_workers is not None:
            return self.n_workers
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    def __post_init__(self) -> None:
        _check(self.n_workers is None or self.n_workers >= 1, "execution.n_workers must be >= 1 or None")
        _check(self.threads_per_worker >= 1, "execution.threads_per_worker must be >= 1")
        _check(self.retries >= 0, "execution.retries must be >= 0")


@dataclass(frozen=True)
class OutputConfig:
    """Products written per frame.

    Attributes
    ----------
    png : bool
        Write preview and diagnostic PNGs.
    zip : bool
        Bundle the frame's products in a ZIP.
    """

    png: bool = True
    zip: bool = True
