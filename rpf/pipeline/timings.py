"""Where a run's time goes, beyond the frames' own stages (``RunFinished.timings``).

A run's wall time is the cluster's start, the client's work before the
frames run (graph building, submission), the masters (built or loaded from
the cache), each frame (waiting for a worker and for the masters, its
stages, writing its products, the result's way back to the client), the
run's own products (summary, light curves) and the cluster's shutdown.
:class:`RunClock` collects these in the eager and the Dask runners alike;
:func:`describe_timings` is the line the CLI prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunClock", "describe_timings", "process_age"]

_PHASES = ("startup", "cluster", "submit", "masters", "frames", "finish", "close")


@dataclass
class RunClock:
    """Phase and per-frame times of one run (wall seconds).

    Attributes
    ----------
    start : float
        ``time.perf_counter()`` when the run began.
    phases : dict
        Seconds per phase: ``cluster``, ``submit``, ``masters``, ``frames``
        (submission to the last frame's result), ``finish``, ``close``
        (missing when a run has no such phase).
    masters_cache : str or None
        ``"loaded"``, ``"built"`` or ``"off"`` (None without calibration frames).
    frames : dict
        Per frame index: ``wait`` (submitted to first stage: queue, masters,
        reference), ``stages`` (sum of the stage times), ``products``
        (writing them) and ``return`` (last task to the client: transfer,
        scheduling).
    """

    start: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    masters_cache: str | None = None
    frames: dict[int, dict[str, float]] = field(default_factory=dict)
    _marks: dict[str, float] = field(default_factory=dict, repr=False)

    def begin(self, phase: str) -> None:
        """Note that ``phase`` starts now."""
        self._marks[phase] = time.perf_counter()

    def end(self, phase: str) -> float:
        """Note that ``phase`` ends now; return its seconds."""
        seconds = time.perf_counter() - self._marks.pop(phase)
        self.phases[phase] = round(self.phases.get(phase, 0.0) + seconds, 4)
        return seconds

    def masters(self, seconds: float | None, cache: str | None) -> None:
        """Record the masters' time and whether the cache answered."""
        if seconds is not None:
            self.phases["masters"] = round(float(seconds), 4)
        self.masters_cache = cache

    def frame(self, index: int, **seconds: float | None) -> None:
        """Record some of a frame's times (``wait``, ``stages``, ``products``, ``return``)."""
        entry = self.frames.setdefault(index, {})
        entry.update({k: round(float(v), 4) for k, v in seconds.items() if v is not None})

    def total(self) -> float:
        """Seconds since the run began."""
        return time.perf_counter() - self.start

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready timings: phases, ``masters_cache``, ``per_frame`` (frame order), ``total``."""
        out: dict[str, Any] = {name: self.phases[name] for name in _PHASES if name in self.phases}
        out["masters_cache"] = self.masters_cache
        out["per_frame"] = [{"index": i, **self.frames[i]} for i in sorted(self.frames)]
        out["total"] = round(self.total(), 4)
        return out


def process_age() -> float | None:
    """Seconds since this process started (the operating system's start time), or None when unknown."""
    import psutil

    try:
        return max(0.0, time.time() - psutil.Process().create_time())
    except (OSError, psutil.Error):
        return None


def describe_timings(timings: dict[str, Any]) -> str:
    """One line saying where the run's time went (printed at the end of ``rpf run``)."""
    parts = []
    for name in _PHASES:
        if name in timings:
            note = f" ({timings['masters_cache']})" if name == "masters" and timings.get("masters_cache") else ""
            parts.append(f"{name} {timings[name]:.1f} s{note}")
    frames = timings.get("per_frame") or []
    if frames:
        sums = {k: sum(f.get(k, 0.0) for f in frames) for k in ("wait", "stages", "products", "return")}
        parts.append("per frame " + ", ".join(f"{k} {v / len(frames):.2f} s" for k, v in sums.items()))
    total = timings.get("total", 0.0)
    since_start = f" ({timings['startup'] + total:.1f} s with the startup)" if "startup" in timings else ""
    return "; ".join(parts) + f"; total {total:.1f} s{since_start}"
