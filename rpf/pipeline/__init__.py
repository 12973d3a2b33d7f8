"""The pipeline: one frame eagerly, or many frames on Dask with streamed events.

``process_frame`` runs the stages of one frame in this process; ``run``
(a generator of :mod:`rpf.pipeline.events`) and ``start_run`` (a
non-blocking :class:`~rpf.pipeline.runner.RunHandle`) run many frames on a
local or remote Dask cluster.  Dask is imported only when those are used.
"""

from __future__ import annotations

from typing import Any

from rpf.pipeline import events
from rpf.pipeline.context import RunContext
from rpf.pipeline.frame import process_frame
from rpf.pipeline.state import FrameResult, FrameState

__all__ = [
    "FrameResult",
    "FrameState",
    "RunContext",
    "RunHandle",
    "events",
    "open_client",
    "process_frame",
    "run",
    "start_run",
]

_LAZY = {"run": "runner", "start_run": "runner", "RunHandle": "runner", "open_client": "cluster"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"rpf.pipeline.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rpf.pipeline' has no attribute {name!r}")
