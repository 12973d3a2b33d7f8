"""Many frames in this process, one after another, with the same events and products as on Dask.

For debugging (``rpf run --eager``), notebooks and small jobs without a
cluster.  The run is planned as on Dask (one context with the masters,
one reference catalogue per group of overlapping fields) and every step's
:class:`~rpf.pipeline.events.StageDone` is yielded as the step ends.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

from rpf.pipeline.checkpoint import resume_task
from rpf.pipeline.context import RunContext, make_context
from rpf.pipeline.events import Event, FrameStarted, RunStarted, StageDone, frame_outcome
from rpf.pipeline.fields import FieldGroup, fetch_group_reference
from rpf.pipeline.finish import finish_run
from rpf.pipeline.frame import Stages, frame_steps
from rpf.pipeline.outputs import lock_output, utc_now
from rpf.pipeline.plan import FramePlan, plan_run
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


def run_eager(request: RunRequest, *, stages: Stages = STAGES,
              cancel: threading.Event | None = None) -> Iterator[Event]:
    """Process a request's frames one by one in this process, yielding the run's events.

    Parameters
    ----------
    request : RunRequest
        Frames, calibration frames, output folder and configuration
        (validated here).
    stages : sequence of (name, function)
        The per-frame steps (default: the pipeline's).
    cancel : threading.Event, optional
        Set it (from a signal handler or another thread) to stop after the
        current step: the frames not finished are cancelled and the run
        still ends with :class:`~rpf.pipeline.events.RunFinished` (summary and
        manifest written).  A ``KeyboardInterrupt`` during a frame does the same.

    Yields
    ------
    Event
        The same events as :func:`rpf.pipeline.run`, each
        :class:`~rpf.pipeline.events.StageDone` as its step ends.

    Raises
    ------
    rpf.errors.ConfigError
        The request is not valid, or another run holds the output folder
        (before any event).
    """
    request.validate()
    run_id = uuid.uuid4().hex[:12]
    with lock_output(request.out_dir, run_id=run_id):
        yield from _EagerRun(request, run_id, stages, cancel).events()


class _EagerRun:
    """One eager run: the plan, then each frame's steps in this process."""

    def __init__(self, request: RunRequest, run_id: str, stages: Stages, cancel: threading.Event | None) -> None:
        self.request = request
        self.run_id = run_id
        self.stages = stages
        self.cancel = cancel or threading.Event()
        self.clock = RunClock()

    def events(self) -> Iterator[Event]:
        request, run_id, clock = self.request, self.run_id, self.clock
        started = utc_now()
        plan = plan_run(request, stages=self.stages)
        paths = list(request.science)
        yield RunStarted(run_id=run_id, n_frames=len(paths), out_dir=request.out_dir)
        masters = plan.needs_masters
        ctx = make_context(config=request.config, out_dir=request.out_dir, bias=request.bias if masters else (),
                           dark=request.dark if masters else (), flat=request.flat if masters else (),
                           stems=plan.stems, provenance=plan.provenance, checkpoints=True,
                           reuse=request.reuse)
        if ctx.masters.info:
            clock.masters(ctx.masters.info.get("seconds"), ctx.masters.info.get("cache"))
        share = request.config.execution.share_references
        references = _References(plan.groups if share else {}, request)
        results = {}
        clock.begin("frames")
        for index, frame in enumerate(plan.frames):
            if self.cancel.is_set():
                break
            try:
                results[index] = yield from self._frame(index, frame, ctx, references)
            except KeyboardInterrupt:
                self.cancel.set()
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
            cancelled=self.cancel.is_set(),
            stems=plan.stems,
            started=started,
            notes=plan.messages,
        )
        clock.end("finish")
        yield replace(finished, seconds=round(clock.total(), 3), timings=clock.to_dict())

    def _frame(self, index: int, frame: FramePlan, ctx: RunContext, references: _References) -> Iterator[Event]:
        """Run (or reuse) one frame, yielding its events; return its result."""
        run_id, path = self.run_id, frame.path
        names = [name for name, _ in self.stages]
        yield FrameStarted(run_id=run_id, path=path, index=index)
        for stage in frame.reused_steps([*names, "products"] if frame.reused is not None else names):
            yield StageDone(run_id=run_id, path=path, index=index, stage=stage, seconds=0.0, reused=True)
        if frame.reused is not None:
            yield frame_outcome(run_id, index, frame.reused)
            return frame.reused
        start_time = time.perf_counter()
        start = None
        if frame.checkpoint is not None:
            start = resume_task(path, frame.checkpoint, frame.reused_steps(names))
        steps = frame_steps(path, ctx, stages=self.stages, reference=references.for_frame(path), start=start)
        while True:
            if self.cancel.is_set():
                steps.close()
                raise KeyboardInterrupt
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
        self.clock.frame(index, wait=0.0, stages=compute, products=time.perf_counter() - start_time - compute)
        yield frame_outcome(run_id, index, result)
        return result
