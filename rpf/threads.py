"""How many threads the code running here may use."""

from __future__ import annotations

from threadpoolctl import threadpool_info

__all__ = ["available_threads"]


def available_threads() -> int:
    """Threads OpenMP may use in this thread now (``OMP_NUM_THREADS`` or a ``threadpoolctl`` limit).

    An eager run gets every core; a Dask task gets the limit its graph gave
    it (one core per frame for a night, more when a run has fewer frames
    than cores).  Thread pools of numpy work (cosmic-ray tiles, master
    combination) follow it, so they never use more cores than the task was
    given.
    """
    counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]
    return max(1, min(counts)) if counts else 1
