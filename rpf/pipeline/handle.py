"""A run going on in a background thread, consumed without ever blocking the caller.

:class:`RunHandle` is what :func:`rpf.pipeline.start_run` returns.  Its
events can be taken three ways, sharing one queue (each event goes to
whichever consumer takes it): :meth:`~RunHandle.poll` (never blocks: a
periodic callback), ``async for event in handle.aevents()`` (asyncio: the
run's thread wakes the loop with ``call_soon_threadsafe``, no thread of the
loop ever waits), or :meth:`~RunHandle.events` (blocking, from a thread).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from rpf.pipeline.events import Event, RunFinished

__all__ = ["RunHandle"]


class _Job(Protocol):
    run_id: str

    def events(self) -> Iterator[Event]: ...

    def cancel(self) -> None: ...


class RunHandle:
    """A run going on in a background thread; never blocks the caller.

    Use :meth:`poll` from a periodic callback, ``async for`` over
    :meth:`aevents` in a coroutine, or :meth:`events` from a thread;
    :meth:`cancel` stops the unfinished frames.

    Attributes
    ----------
    run_id : str
        The run's identifier (as in every event).
    result : RunFinished or None
        The closing event, once the run has finished.
    error : BaseException or None
        What stopped the run early (re-raised to the consumer).
    """

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._queue: queue.Queue[Event | BaseException | None] = queue.Queue()
        self._finished = threading.Event()
        self._wakers: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.run_id = job.run_id
        self.result: RunFinished | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True, name=f"rpf-run-{job.run_id}")
        self._thread.start()

    def _put(self, item: Event | BaseException | None) -> None:
        self._queue.put(item)
        with self._lock:
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    def _work(self) -> None:
        try:
            for event in self._job.events():
                if isinstance(event, RunFinished):
                    self.result = event
                self._put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised by poll()/events()/wait()
            self.error = exc
            self._put(exc)
        finally:
            self._finished.set()
            self._put(None)

    @property
    def done(self) -> bool:
        """True once the run has finished (or failed to start)."""
        return self._finished.is_set()

    def cancel(self) -> None:
        """Cancel the unfinished frames; the stream still ends with :class:`RunFinished`."""
        self._job.cancel()

    def poll(self) -> list[Event]:
        """Return the events that arrived since the last call, without waiting.

        Raises
        ------
        BaseException
            What stopped the run, once, after the events before it.
        """
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

    def _exhausted(self) -> bool:
        return self._finished.is_set() and self._queue.empty()

    async def aevents(self) -> AsyncIterator[Event]:
        """Yield events in a coroutine until the run finishes; never blocks the event loop.

        The run's thread wakes the loop with ``loop.call_soon_threadsafe``;
        between events the coroutine awaits, holding no thread.

        Examples
        --------
        >>> async def follow(handle):  # doctest: +SKIP
        ...     async for event in handle.aevents():
        ...         print(event.kind)
        """
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(arrived.set)
            except RuntimeError:  # the loop was closed while the run went on
                pass

        with self._lock:
            self._wakers.append(wake)
        try:
            while True:
                arrived.clear()
                for event in self.poll():
                    yield event
                if self._exhausted():
                    return
                await arrived.wait()
        finally:
            with self._lock:
                self._wakers.remove(wake)

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
