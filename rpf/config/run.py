"""Configuration sections of where a run executes and what it writes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from rpf.config.fields import param, validate_section

__all__ = ["ExecutionConfig", "OutputConfig"]

MEMORY_LIMIT = r"(?i)\s*(auto|\d+(\.\d+)?\s*([kmgtp]i?b|b)?)\s*"
"""``"auto"``, a number of bytes, or a size with a unit (``"4 GB"``, ``"512MiB"``)."""


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
        Memory limit per local worker: ``"auto"`` (Dask shares the memory
        among the workers), a number of bytes (``"4000000000"``) or a size with
        a unit (``"4 GB"``, ``"512MiB"``).
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
    task_threads : int or None
        Threads (OpenMP, BLAS) each Dask task may use.  ``None`` (default):
        the cluster's free cores shared among the frames that run at once:
        every core of a host for a lone frame, one per task for a night.
    """

    SECTION: ClassVar[str] = "execution"

    scheduler: str | None = param(None, pattern=r"\S+", hint="an address without spaces")
    n_workers: int | None = param(None, minimum=1, maximum=1024)
    threads_per_worker: int = param(1, minimum=1, maximum=256)
    memory_limit: str = param("auto", pattern=MEMORY_LIMIT, hint="'auto', a number of bytes or a size such as '4 GB'")
    retries: int = param(2, minimum=0, maximum=10)
    processes: bool = param(True)
    dashboard_address: str | None = param(":8787", pattern=r"\S*:\d{1,5}", hint="[host]:port")
    share_references: bool = param(True)
    task_threads: int | None = param(None, minimum=1, maximum=1024)

    @property
    def local_workers(self) -> int:
        """Workers to start for a local cluster: ``n_workers``, else one per usable core."""
        if self.n_workers is not None:
            return self.n_workers
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    def __post_init__(self) -> None:
        validate_section(self)


@dataclass(frozen=True)
class OutputConfig:
    """Products written per frame.

    Attributes
    ----------
    png : bool
        Write preview and diagnostic PNGs.
    zip : bool
        Bundle the frame's products in a ZIP (the calibrated pixels stay beside it).
    calibrated_fits : bool
        Write ``<stem>_calibrated.fits``: the calibrated, cosmic-cleaned image
        with its WCS, pixel mask and background (what an image view or a
        re-measurement reads instead of reprocessing the frame).
    """

    SECTION: ClassVar[str] = "output"

    png: bool = param(True)
    zip: bool = param(True)
    calibrated_fits: bool = param(True)

    def __post_init__(self) -> None:
        validate_section(self)
