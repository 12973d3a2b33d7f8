"""Run many frames on Dask and stream their events as they finish.

:func:`run` is a generator of :mod:`rpf.pipeline.events` (for the CLI);
:func:`start_run` runs the same generator on a background thread and
returns a :class:`RunHandle` that a dashboard polls, or iterates with
``async for``, without blocking its event loop.  Frames stream back with
:func:`distributed.as_completed`; only each frame's small
:class:`~rpf.pipeline.state.FrameResult` leaves the workers.  Step progress
comes from the workers on a per-run event topic; a frame's steps that the
topic had not yet delivered when its result arrives are reported from the
result's timings, so every frame's events are complete and in order.  At
the end the run writes ``run_summary.csv`` and ``lightcurves.csv``.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed
from distributed.scheduler import KilledWorker

from rpf.config import ExecutionConfig
from rpf.pipeline.cluster import cluster_capacity, cluster_info, open_client, task_threads
from rpf.pipeline.events import Event, FrameStarted, RunFinished, RunStarted, StageDone, frame_outcome
from rpf.pipeline.finish import failed_result, finish_run
from rpf.pipeline.frame import Stages
from rpf.pipeline.graph import build_run_graph
from rpf.pipeline.handle import RunHandle
from rpf.pipeline.outputs import lock_output, utc_now
from rpf.pipeline.plan import RunPlan, plan_run
from rpf.pipeline.request import RunRequest
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameResult
from rpf.pipeline.timings import RunClock

__all__ = ["RunHandle", "run", "start_run"]


def _naming(path: str, message: str) -> str:
    return message if Path(path).name in message else f"{path}: {message}"


class _Run:
    """One run: builds and submits the graph, turns completions into events."""

    def __init__(self, request: RunRequest, *, client: Client | None, stages: Stages) -> None:
        self.request = request.validate()
        self.paths = list(request.science)
        self.config = request.config
        self.client = client
        self.stages = tuple(stages)
        self.run_id = uuid.uuid4().hex[:12]
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._cancelled = False
        self._futures: list[Future] = []
        self._client: Client | None = None
        self._completed: as_completed | None = None
        self._reported: dict[int, set[str]] = {}
        self.clock = RunClock()
        self._submitted = time.time()
        self._started_at: dict[int, float] = {}
        self.plan: RunPlan | None = None

    def cancel(self) -> None:
        """Cancel every unfinished frame; the event stream then ends with RunFinished."""
        with self._lock:
            self._cancelled = True
            if self._client is not None and self._futures:
                self._client.cancel([f for f in self._futures if not f.done()])
            if self._completed is not None:
                self._completed.clear()
        self._inbox.put(("cancel", None))

    def _feed(self, completed: as_completed) -> None:
        """Hand finished futures to the event stream; always end it, even if waiting fails."""
        try:
            for future in completed:
                self._inbox.put(("done", future))
        finally:
            self._inbox.put(("end", None))

    def events(self) -> Iterator[Event]:
        """Run the frames and yield the events as they happen."""
        clock = self.clock
        with ExitStack() as stack:
            stack.enter_context(lock_output(self.request.out_dir, run_id=self.run_id))
            started = utc_now()
            self.plan = plan = plan_run(self.request, stages=self.stages)
            clock.begin("cluster")
            client = self.client or stack.enter_context(open_client(self._execution()))
            clock.end("cluster")
            info = cluster_info(client)
            yield RunStarted(
                run_id=self.run_id,
                n_frames=len(self.paths),
                out_dir=self.request.out_dir,
                scheduler=info.scheduler,
                dashboard=info.dashboard,
            )
            clock.begin("submit")
            topic = f"rpf-{self.run_id}"
            client.subscribe_topic(topic, lambda event: self._inbox.put(("topic", event[1])))
            stack.callback(client.unsubscribe_topic, topic)
            capacity = cluster_capacity(client)
            fixed = self.config.execution.task_threads
            graphs = build_run_graph(
                self.paths,
                config=self.config,
                out_dir=self.request.out_dir,
                bias=self.request.bias,
                dark=self.request.dark,
                flat=self.request.flat,
                stages=self.stages,
                share_references=self.config.execution.share_references,
                topic=topic,
                threads=fixed or task_threads(capacity, tasks=len(self.paths)),
                masters_threads=fixed or task_threads(capacity, tasks=1),
                plan=plan,
            )
            todo = [i for i, f in enumerate(plan.frames) if f.reused is None]
            with self._lock:
                if self._cancelled:
                    graphs = []
                self._client = client
                self._futures = client.compute(graphs, retries=self.config.execution.retries)
                self._completed = as_completed(self._futures)
            self._submitted = time.time()
            clock.end("submit")
            stack.callback(self._cancel_unfinished)
            threading.Thread(target=self._feed, args=(self._completed,), daemon=True, name="rpf-as-completed").start()
            clock.begin("frames")
            results: dict[int, FrameResult] = {}
            for index, frame in enumerate(plan.frames):
                if frame.reused is not None:
                    results[index] = frame.reused
                    yield from self._close(index, frame.reused)
            yield from self._stream({f.key: todo[n] for n, f in enumerate(self._futures)}, results)
            clock.end("frames")
            clock.begin("finish")
            finished = self._finish(results, 0.0, started)
            clock.end("finish")
            clock.begin("close")
        clock.end("close")
        yield replace(finished, seconds=round(clock.total(), 3), timings=clock.to_dict())

    def _execution(self) -> ExecutionConfig:
        """Return the execution settings, with no more local workers than frames when the count is automatic.

        With the automatic count a lone frame runs on one worker thread of
        this process (its tasks get every core through their thread limit):
        starting a worker process and importing the pipeline again in it
        would take longer than anything it saves.
        """
        execution = self.config.execution
        if execution.n_workers is None:
            n_workers = min(execution.local_workers, max(1, len(self.paths)))
            execution = replace(execution, n_workers=n_workers, processes=execution.processes and len(self.paths) > 1)
        return execution

    def _cancel_unfinished(self) -> None:
        unfinished = [f for f in self._futures if not f.done()]
        if unfinished and self._client is not None:
            self._client.cancel(unfinished)

    def _started(self, index: int) -> Iterator[Event]:
        if index not in self._reported:
            self._reported[index] = set()
            yield FrameStarted(run_id=self.run_id, path=self.paths[index], index=index)
            if self.plan is not None:
                frame = self.plan.frames[index]
                names = [name for name, _ in self.stages]
                for stage in frame.reused_steps([*names, "products"] if frame.reused is not None else names):
                    self._reported[index].add(stage)
                    yield StageDone(run_id=self.run_id, path=frame.path, index=index, stage=stage, seconds=0.0,
                                    reused=True)

    def _stage(self, index: int, stage: str, seconds: float | None, failed: bool) -> Iterator[Event]:
        yield from self._started(index)
        if stage not in self._reported[index]:
            self._reported[index].add(stage)
            yield StageDone(run_id=self.run_id, path=self.paths[index], index=index, stage=stage, seconds=seconds,
                            failed=failed)

    def _stream(self, index_of: dict[str, int], results: dict[int, FrameResult]) -> Iterator[Event]:
        """Yield frame events until every frame finished or the run was cancelled (``results`` filled in)."""
        while len(results) < len(self.paths):
            kind, item = self._inbox.get()
            if kind in ("cancel", "end"):
                yield from self._drain(index_of, results)
                break
            if kind == "topic":
                if self._clocked(item):
                    continue
                index = int(item["index"])
                if index in results or index >= len(self.paths):
                    continue  # a late report of a frame already closed from its result
                if item["kind"] == "stage":
                    yield from self._stage(index, item["stage"], item.get("seconds"), bool(item.get("failed")))
                else:
                    yield from self._started(index)
                continue
            index = index_of[item.key]
            result = self._result(item, self.paths[index])
            if result is not None:
                self._clock_frame(index, result)
                results[index] = result
                yield from self._close(index, result)
        return results

    def _clocked(self, item: dict) -> bool:
        """Record the times a worker reported; True when the message carries nothing else."""
        kind = item["kind"]
        if kind == "masters":
            self.clock.masters(item.get("seconds"), item.get("cache"))
            return True
        if kind == "products":
            self.clock.frame(int(item["index"]), products=item.get("seconds"))
            return True
        if kind == "started" and item.get("time") is not None:
            self._started_at[int(item["index"])] = float(item["time"])
        return False

    def _clock_frame(self, index: int, result: FrameResult) -> None:
        """Split a frame's time from submission to arrival: waiting, stages, products, return."""
        arrived = time.time()
        timings = result.metadata.get("timings") or {}
        stages = sum(v for k, v in timings.items() if k != "products")
        started = self._started_at.get(index, self._submitted)
        products = self.clock.frames.get(index, {}).get("products", 0.0)
        self.clock.frame(
            index, wait=started - self._submitted, stages=stages, **{"return": arrived - started - stages - products}
        )

    def _close(self, index: int, result: FrameResult) -> Iterator[Event]:
        """Yield the steps the topic has not delivered (from the result's timings), then the outcome."""
        failed = result.metadata.get("failed_stage")
        for stage, seconds in (result.metadata.get("timings") or {}).items():
            yield from self._stage(index, stage, seconds, stage == failed)
        yield from self._started(index)
        yield frame_outcome(self.run_id, index, result)

    def _drain(self, index_of: dict[str, int], results: dict[int, FrameResult]) -> Iterator[Event]:
        """After a cancel, report the frames that had finished all the same."""
        for future in self._futures:
            index = index_of[future.key]
            if index in results or future.status not in ("finished", "error"):
                continue
            result = self._result(future, self.paths[index])
            results[index] = result
            yield from self._close(index, result)

    def _result(self, future: Future, path: str) -> FrameResult | None:
        if future.status == "finished":
            result = future.result()
        elif future.status == "error":
            exc = future.exception()
            lost = isinstance(exc, KilledWorker)
            text = f"its worker died ({self.config.execution.retries} retries): {exc}" if lost else f"{exc}"
            result = failed_result(path, _naming(path, f"{type(exc).__name__}: {text}"), worker_lost=lost)
        else:
            result = None
        future.release()
        return result

    def _finish(self, results: dict[int, FrameResult], seconds: float, started: str) -> RunFinished:
        return finish_run(
            results,
            paths=self.paths,
            out_dir=Path(self.request.out_dir),
            run_id=self.run_id,
            seconds=seconds,
            lightcurves=self.request.lightcurves,
            differential=self.request.differential,
            cancelled=self._cancelled,
            transients=self.config.transients,
            stems=self.plan.stems if self.plan is not None else None,
            started=started,
            notes=self.plan.messages if self.plan is not None else (),
        )


def run(request: RunRequest, *, client: Client | None = None, stages: Stages = STAGES) -> Iterator[Event]:
    """Process a request's frames on Dask, yielding events as they happen.

    Parameters
    ----------
    request : RunRequest
        Frames, calibration frames, output folder and configuration;
        ``request.config.execution`` sizes the local cluster, names a
        scheduler and sets the task retries.  Validated before anything runs.
    client : distributed.Client, optional
        A synchronous client to use (left open, e.g. ``Cluster.client`` from
        :func:`~rpf.pipeline.cluster.start_cluster`); default: a cluster
        opened for this run with :func:`~rpf.pipeline.cluster.open_client`.
    stages : sequence of (name, function)
        The per-frame steps (default: the pipeline's).

    Yields
    ------
    Event
        :class:`RunStarted`, then per frame :class:`FrameStarted`,
        :class:`StageDone` per step (``products`` last),
        :class:`FrameDone` or :class:`FrameFailed`, and :class:`RunFinished`
        last.  Closing the generator early cancels the unfinished frames.

    Raises
    ------
    rpf.errors.ConfigError
        The request is not valid, or the scheduler cannot be reached.

    Examples
    --------
    >>> request = RunRequest(science=("a.fits", "b.fits"), out_dir="out")  # doctest: +SKIP
    >>> for event in run(request):  # doctest: +SKIP
    ...     print(event.to_dict()["event"])
    """
    return _Run(request, client=client, stages=stages).events()


def start_run(request: RunRequest, *, client: Client | None = None, stages: Stages = STAGES) -> RunHandle:
    """Start :func:`run` on a background thread and return its handle at once.

    Takes the same parameters as :func:`run`; a given ``client`` must be
    synchronous (``Client(address)``, or ``Cluster.client``), which is safe
    to use from any thread.  The request is validated before this returns.

    Raises
    ------
    rpf.errors.ConfigError
        The request is not valid.
    """
    return RunHandle(_Run(request, client=client, stages=stages))
