"""The pipeline: one frame eagerly, or many frames on Dask with streamed events.

``process_frame`` runs the stages of one frame in this process; ``run``
(a generator of :mod:`rpf.pipeline.events`) and ``start_run`` (a
non-blocking :class:`~rpf.pipeline.runner.RunHandle`) run many frames on a
local or remote Dask cluster.  Names are imported on first use, so that
``python -m rpf.pipeline.service`` (the container entry point) starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FrameResult",
    "FrameState",
    "RunContext",
    "RunHandle",
    "events",
    "open_client",
    "process_frame",
    "run",
    "run_eager",
    "start_run",
]

_LAZY = {
    "FrameResult": "state",
    "FrameState": "state",
    "RunContext": "context",
    "RunHandle": "runner",
    "open_client": "cluster",
    "process_frame": "frame",
    "run": "runner",
    "run_eager": "eager",
    "start_run": "runner",
}


def __getattr__(name: str) -> Any:
    if name == "events":
        return importlib.import_module("rpf.pipeline.events")
    if name in _LAZY:
        return getattr(importlib.import_module(f"rpf.pipeline.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rpf.pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
