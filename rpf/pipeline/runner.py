"""Run many frames on Dask and stream their events as they finish.

:func:`run` is a generator of :mod:`rpf.pipeline.events` (for the CLI);
:func:`start_run` runs the same generator on a background thread and
returns a :class:`RunHandle` that a dashboard polls without blocking its
event loop.  Frames stream back with :func:`distributed.as_completed`; only
each frame's small :class:`~rpf.pipeline.state.FrameResult` leaves the
workers.  Stage progress comes from the workers on a per-run event topic.
At the end the run writes ``run_summary.csv`` and ``lightcurves.csv``.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed

from rpf.config import ExecutionConfig, PipelineConfig
from rpf.pipeline.cluster import cluster_capacity, cluster_info, open_client, task_threads
from rpf.pipeline.events import (
    Event,
    FrameDone,
    FrameFailed,
    FrameStarted,
    RunFinished,
    RunStarted,
    StageDone,
)
from rpf.pipeline.finish import failed_result as _failed
from rpf.pipeline.finish import finish_run
from rpf.pipeline.frame import StageFunction
from rpf.pipeline.graph import build_run_graph
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameResult
from rpf.pipeline.timings import RunClock

__all__ = ["RunHandle", "run", "start_run"]

PathLike = str | Path


def _naming(path: str, message: str) -> str:
    return message if Path(path).name in message else f"{path}: {message}"


class _Run:
    """One run: builds and submits the graph, turns completions into events."""

    def __init__(
        self,
        paths: Sequence[PathLike],
        *,
        config: PipelineConfig,
        out_dir: PathLike,
        bias: Sequence[PathLike],
        dark: Sequence[PathLike],
        flat: Sequence[PathLike],
        client: Client | None,
        scheduler: str | None,
        stages: Sequence[tuple[str, StageFunction]],
        lightcurves: bool,
        differential: bool,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.config = config
        self.out_dir = Path(out_dir)
        self.calibration = {"bias": list(bias), "dark": list(dark), "flat": list(flat)}
        self.client = client
        self.scheduler = scheduler
        self.stages = tuple(stages)
        self.lightcurves = lightcurves
        self.differential = differential
        self.run_id = uuid.uuid4().hex[:12]
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._cancelled = False
        self._futures: list[Future] = []
        self._client: Client | None = None
        self._completed: as_completed | None = None
        self.clock = RunClock()
        self._submitted = time.time()
        self._started_at: dict[int, float] = {}

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
            clock.begin("cluster")
            client = self.client or stack.enter_context(open_client(self._execution(), scheduler=self.scheduler))
            clock.end("cluster")
            info = cluster_info(client)
            yield RunStarted(
                run_id=self.run_id,
                n_frames=len(self.paths),
                out_dir=str(self.out_dir),
                scheduler=info.scheduler,
                dashboard=info.dashboard,
            )
            clock.begin("submit")
            topic = f"rpf-{self.run_id}"
            client.subscribe_topic(topic, lambda event: self._inbox.put(("topic", event[1])))
            stack.callback(client.unsubscribe_topic, topic)
            capacity = cluster_capacity(client)
            graphs = build_run_graph(
                self.paths,
                config=self.config,
                out_dir=self.out_dir,
                stages=self.stages,
                share_references=self.config.execution.share_references,
                topic=topic,
                threads=self.config.execution.task_threads or task_threads(capacity, tasks=len(self.paths)),
                masters_threads=self.config.execution.task_threads or task_threads(capacity, tasks=1),
                **self.calibration,
            )
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
            results = yield from self._stream({f.key: i for i, f in enumerate(self._futures)})
            clock.end("frames")
            clock.begin("finish")
            finished = self._finish(results, 0.0)
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

    def _stream(self, index_of: dict[str, int]) -> Iterator[Event]:
        """Yield frame events until every frame finished or the run was cancelled."""
        started: set[int] = set()
        results: dict[int, FrameResult] = {}
        while len(results) < len(self.paths):
            kind, item = self._inbox.get()
            if kind in ("cancel", "end"):
                yield from self._drain(index_of, started, results)
                break
            if kind == "topic":
                if self._clocked(item):
                    continue
                index = int(item["index"])
                if index in results or index >= len(self.paths):
                    continue
                if index not in started:
                    started.add(index)
                    yield FrameStarted(run_id=self.run_id, path=self.paths[index], index=index)
                if item["kind"] == "stage":
                    yield StageDone(
                        run_id=self.run_id,
                        path=self.paths[index],
                        index=index,
                        stage=item["stage"],
                        seconds=item.get("seconds"),
                        failed=bool(item.get("failed")),
                    )
                continue
            index = index_of[item.key]
            result = self._result(item, self.paths[index])
            if result is None:
                continue
            self._clock_frame(index, result)
            if index not in started:
                started.add(index)
                yield FrameStarted(run_id=self.run_id, path=self.paths[index], index=index)
            results[index] = result
            yield self._frame_event(index, result)
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
        stages = sum((result.metadata.get("timings") or {}).values())
        started = self._started_at.get(index, self._submitted)
        products = self.clock.frames.get(index, {}).get("products", 0.0)
        self.clock.frame(
            index, wait=started - self._submitted, stages=stages, **{"return": arrived - started - stages - products}
        )

    def _drain(self, index_of: dict[str, int], started: set[int], results: dict[int, FrameResult]) -> Iterator[Event]:
        """After a cancel, report the frames that had finished all the same."""
        for future in self._futures:
            index = index_of[future.key]
            if index in results or future.status not in ("finished", "error"):
                continue
            result = self._result(future, self.paths[index])
            if index not in started:
                started.add(index)
                yield FrameStarted(run_id=self.run_id, path=self.paths[index], index=index)
            results[index] = result
            yield self._frame_event(index, result)

    def _result(self, future: Future, path: str) -> FrameResult | None:
        if future.status == "finished":
            result = future.result()
        elif future.status == "error":
            exc = future.exception()
            result = _failed(path, _naming(path, f"{type(exc).__name__}: {exc}"))
        else:
            result = None
        future.release()
        return result

    def _frame_event(self, index: int, result: FrameResult) -> Event:
        path = self.paths[index]
        if result.ok:
            return FrameDone(run_id=self.run_id, path=path, index=index, result=result)
        return FrameFailed(
            run_id=self.run_id,
            path=path,
            index=index,
            message=_naming(path, result.error or "failed"),
            stage=result.metadata.get("failed_stage"),
            metadata=result.metadata,
        )

    def _finish(self, results: dict[int, FrameResult], seconds: float) -> RunFinished:
        return finish_run(
            results,
            paths=self.paths,
            out_dir=self.out_dir,
            run_id=self.run_id,
            seconds=seconds,
            lightcurves=self.lightcurves,
            differential=self.differential,
            cancelled=self._cancelled,
            transients=self.config.transients,
        )


def _make_run(
    paths: Sequence[PathLike],
    *,
    config: PipelineConfig | None,
    out_dir: PathLike,
    bias: Sequence[PathLike],
    dark: Sequence[PathLike],
    flat: Sequence[PathLike],
    client: Client | None,
    scheduler: str | None,
    stages: Sequence[tuple[str, StageFunction]],
    lightcurves: bool,
    differential: bool,
) -> _Run:
    return _Run(
        paths,
        config=config or PipelineConfig(),
        out_dir=out_dir,
        bias=bias,
        dark=dark,
        flat=flat,
        client=client,
        scheduler=scheduler,
        stages=stages,
        lightcurves=lightcurves,
        differential=differential,
    )


def run(
    paths: Sequence[PathLike],
    *,
    config: PipelineConfig | None = None,
    out_dir: PathLike,
    bias: Sequence[PathLike] = (),
    dark: Sequence[PathLike] = (),
    flat: Sequence[PathLike] = (),
    client: Client | None = None,
    scheduler: str | None = None,
    stages: Sequence[tuple[str, StageFunction]] = STAGES,
    lightcurves: bool = True,
    differential: bool = False,
) -> Iterator[Event]:
    """Process many frames on Dask, yielding events as frames finish.

    Parameters
    ----------
    paths : sequence of str or Path
        Raw science frames.
    config : PipelineConfig, optional
        Every parameter (defaults when omitted); ``config.execution`` sizes
        the local cluster, names a scheduler and sets the task retries.
    out_dir : str or Path
        Products folder (per-frame products, ``run_summary.csv``, ``lightcurves.csv``).
    bias, dark, flat : sequence of str or Path
        Raw calibration frames; the masters are built once, as one task.
    client : distributed.Client, optional
        A synchronous client to use (left open); default: :func:`open_client`.
    scheduler : str, optional
        Scheduler address (``--scheduler``) when no client is given.
    stages : sequence of (name, function)
        The per-frame stages (default: the pipeline's).
    lightcurves : bool
        Write ``lightcurves.csv`` when frames overlap.
    differential : bool
        Add ensemble differential magnitudes to the light curves.

    Yields
    ------
    Event
        :class:`RunStarted`, then per frame :class:`FrameStarted`,
        :class:`StageDone`..., :class:`FrameDone` or :class:`FrameFailed`,
        and :class:`RunFinished` last.  Closing the generator early cancels
        the unfinished frames.

    Examples
    --------
    >>> for event in run(paths, out_dir="out"):  # doctest: +SKIP
    ...     print(event.to_dict()["event"])
    """
    return _make_run(
        paths,
        config=config,
        out_dir=out_dir,
        bias=bias,
        dark=dark,
        flat=flat,
        client=client,
        scheduler=scheduler,
        stages=stages,
        lightcurves=lightcurves,
        differential=differential,
    ).events()


class RunHandle:
    """A run going on in a background thread; never blocks the caller.

    Use :meth:`poll` from an event loop (periodic callback) or iterate
    :meth:`events` from a thread; :meth:`cancel` stops the unfinished frames.
    """

    def __init__(self, job: _Run) -> None:
        self._job = job
        self._queue: queue.Queue[Event | BaseException | None] = queue.Queue()
        self._finished = threading.Event()
        self.run_id = job.run_id
        self.result: RunFinished | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True, name=f"rpf-run-{job.run_id}")
        self._thread.start()

    def _work(self) -> None:
        try:
            for event in self._job.events():
                if isinstance(event, RunFinished):
                    self.result = event
                self._queue.put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised by events()/wait()
            self.error = exc
            self._queue.put(exc)
        finally:
            self._finished.set()
            self._queue.put(None)

    @property
    def done(self) -> bool:
        """True once the run has finished (or failed to start)."""
        return self._finished.is_set()

    def cancel(self) -> None:
        """Cancel the unfinished frames; the stream still ends with :class:`RunFinished`."""
        self._job.cancel()

    def poll(self) -> list[Event]:
        """Return the events that arrived since the last call, without waiting."""
        out: list[Event] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if isinstance(item, BaseException):
                raise item
            if item is not None:
                out.append(item)

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Yield events until the run finishes (blocking; use from a thread).

        Raises
        ------
        TimeoutError
            When no event arrives within ``timeout`` seconds.
        """
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty as exc:
                raise TimeoutError(f"no event from run {self.run_id} within {timeout} s") from exc
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item

    def wait(self, timeout: float | None = None) -> RunFinished | None:
        """Block until the run finishes; return its :class:`RunFinished` (None on timeout)."""
        self._finished.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.result


def start_run(
    paths: Sequence[PathLike],
    *,
    config: PipelineConfig | None = None,
    out_dir: PathLike,
    bias: Sequence[PathLike] = (),
    dark: Sequence[PathLike] = (),
    flat: Sequence[PathLike] = (),
    client: Client | None = None,
    scheduler: str | None = None,
    stages: Sequence[tuple[str, StageFunction]] = STAGES,
    lightcurves: bool = True,
    differential: bool = False,
) -> RunHandle:
    """Start :func:`run` on a background thread and return its handle at once.

    Takes the same parameters as :func:`run`; a given ``client`` must be
    synchronous (``Client(address)``), which is safe to use from any thread.
    """
    return RunHandle(
        _make_run(
            paths,
            config=config,
            out_dir=out_dir,
            bias=bias,
            dark=dark,
            flat=flat,
            client=client,
            scheduler=scheduler,
            stages=stages,
            lightcurves=lightcurves,
            differential=differential,
        )
    )
