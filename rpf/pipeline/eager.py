"""Many frames in this process, one after another, with the same events and products as on Dask.

For debugging (``rpf run --eager``), notebooks and small jobs without a
cluster.  The run is planned as on Dask (one context with the masters,
one reference catalogue per group of overlapping fields) and every step's
:class:`~rpf.pipeline.events.StageDone` is yielded as the step ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

from rpf.pipeline.context import make_context
from rpf.pipeline.events import Event, FrameStarted, RunStarted, StageDone, frame_outcome
from rpf.pipeline.fields import FieldGroup, fetch_group_reference, plan_groups
from rpf.pipeline.finish import finish_run
from rpf.pipeline.frame import Stages, frame_steps
from rpf.pipeline.reference import ReferenceFetch
from rpf.pipeline.request import RunRequest
from rpf.pipeline.stages import STAGES
from rpf.pipeline.timings import RunClock

__all__ = ["run_eager"]


class _References:
    """Each field group's reference catalogue, fetched when its first frame needs it."""

    def __init__(self, groups: dict[str, FieldGroup], request: RunRequest) -> None:
        self._groups = groups
        self._config = request.config
        self._fetched: dict[FieldGroup, ReferenceFetch] = {}

    def for_frame(self, path: str) -> Callable[[], ReferenceFetch] | None:
        """Return the fetch of a frame's group reference (None when the header gave no field)."""
        group = self._groups.get(path)
        return None if group is None else partial(self._fetch, group)

    def _fetch(self, group: FieldGroup) -> ReferenceFetch:
        if group not in self._fetched:
            self._fetched[group] = fetch_group_reference(group, self._config)
        return self._fetched[group]


def run_eager(request: RunRequest, *, stages: Stages = STAGES) -> Iterator[Event]:
    """Process a request's frames one by one in this process, yielding the run's events.

    Parameters
    ----------
    request : RunRequest
        Frames, calibration frames, output folder and configuration
        (validated here).
    stages : sequence of (name, function)
        The per-frame steps (default: the pipeline's).

    Yields
    ------
    Event
        The same events as :func:`rpf.pipeline.run`, each
        :class:`~rpf.pipeline.events.StageDone` as its step ends.

    Raises
    ------
    rpf.errors.ConfigError
        The request is not valid (before any event).
    """
    request.validate()
    run_id = uuid.uuid4().hex[:12]
    clock = RunClock()
    paths = list(request.science)
    yield RunStarted(run_id=run_id, n_frames=len(paths), out_dir=request.out_dir)
    ctx = make_context(config=request.config, out_dir=request.out_dir, bias=request.bias, dark=request.dark,
                       flat=request.flat)
    if ctx.masters.info:
        clock.masters(ctx.masters.info.get("seconds"), ctx.masters.info.get("cache"))
    share = request.config.execution.share_references
    references = _References(plan_groups(paths, request.config) if share else {}, request)
    results = {}
    clock.begin("frames")
    for index, path in enumerate(paths):
        yield FrameStarted(run_id=run_id, path=path, index=index)
        start = time.perf_counter()
        steps = frame_steps(path, ctx, stages=stages, reference=references.for_frame(path))
        while True:
            try:
                name, state = next(steps)
            except StopIteration as finished:
                result = finished.value
                break
            if name in state.timings:
                yield StageDone(run_id=run_id, path=path, index=index, stage=name, seconds=state.timings[name],
                                failed=state.failed_stage == name)
        yield StageDone(run_id=run_id, path=path, index=index, stage="products",
                        seconds=result.metadata["timings"].get("products"))
        timings = result.metadata.get("timings") or {}
        compute = sum(v for k, v in timings.items() if k != "products")
        clock.frame(index, wait=0.0, stages=compute, products=time.perf_counter() - start - compute)
        results[index] = result
        yield frame_outcome(run_id, index, result)
    clock.end("frames")
    clock.begin("finish")
    finished = finish_run(
        results,
        paths=paths,
        out_dir=Path(request.out_dir),
        run_id=run_id,
        seconds=0.0,
        lightcurves=request.lightcurves,
        differential=request.differential,
        transients=request.config.transients,
    )
    clock.end("finish")
    yield replace(finished, seconds=round(clock.total(), 3), timings=clock.to_dict())
