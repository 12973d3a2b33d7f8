"""The pipeline's public API: run requests, eager and Dask runs, events, clusters, pixels.

Build a :class:`RunRequest` (or :func:`build_request` from ``rpf run``'s
options) and run it with :func:`run` (a generator of
:mod:`rpf.pipeline.events` on Dask), :func:`run_eager` (the same events in
this process) or :func:`start_run` (a non-blocking :class:`RunHandle`, also
``async for``-able).  :func:`start_cluster` gives a caller-owned
:class:`Cluster` whose ``client`` every run can share.  :data:`STAGE_NAMES`
are a frame's steps in order and :data:`STAGE_SECTIONS` the configuration
each reads; :func:`frame_pixels` reads a processed frame's pixels back.
Names are imported on first use, so that ``python -m rpf.pipeline.service``
(the container entry point) starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "STAGE_NAMES",
    "STAGE_SECTIONS",
    "Cluster",
    "FramePixels",
    "FrameResult",
    "FrameState",
    "RunContext",
    "RunHandle",
    "RunRequest",
    "build_request",
    "events",
    "frame_pixels",
    "open_client",
    "process_frame",
    "run",
    "run_eager",
    "start_cluster",
    "start_run",
]

_LAZY = {
    "STAGE_NAMES": "stages",
    "STAGE_SECTIONS": "stages",
    "Cluster": "cluster",
    "FramePixels": "pixels",
    "FrameResult": "state",
    "FrameState": "state",
    "RunContext": "context",
    "RunHandle": "handle",
    "RunRequest": "request",
    "build_request": "request",
    "frame_pixels": "pixels",
    "open_client": "cluster",
    "process_frame": "frame",
    "run": "runner",
    "run_eager": "eager",
    "start_cluster": "cluster",
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
