"""Consume a run's event stream on the terminal: a progress bar or log lines."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from rpf.atomic import write_atomic
from rpf.pipeline.request import RunRequest
from rpf.pipeline.timings import describe_timings, process_age

__all__ = ["ProgressPrinter", "run_with_progress"]


class ProgressPrinter:
    """Print events as a one-line progress bar (a terminal) or as log lines.

    Parameters
    ----------
    total : int
        Number of frames.
    stream : file, optional
        Where to print (default ``sys.stderr``).
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = 0
        self.failed = 0

    def _bar(self, stage: str) -> None:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        text = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} frames  {stage:<40.40}"
        self.stream.write(text)
        self.stream.flush()

    def __call__(self, event) -> None:
        """Show one event."""
        kind = event.kind
        if kind == "run_started":
            where = event.scheduler or "local process"
            dash = f", dashboard {event.dashboard}" if event.dashboard else ""
            self._line(f"rpf: {event.n_frames} frame(s) on {where}{dash}")
        elif kind == "stage_done":
            if self.tty:
                self._bar(f"{Path(event.path).name}: {event.stage}")
        elif kind == "frame_done":
            self.done += 1
            m = event.metadata
            zp = f"{m['zero_point']:.3f}" if m.get("zero_point") is not None else "n/a"
            fwhm = f"{m['fwhm_px']:.2f}" if m.get("fwhm_px") is not None else "n/a"
            self._line(
                f"rpf: done {m['frame']}: {m['n_sources']} sources, FWHM {fwhm} px, "
                f"WCS {m['wcs_source']}, zero point {zp} ({m.get('band') or 'no band'})"
            )
        elif kind == "frame_failed":
            self.done += 1
            self.failed += 1
            self._line(f"rpf: FAILED {event.message}", error=True)
        elif kind == "run_finished":
            if self.tty:
                self.stream.write("\n")
            cancelled = f", {event.n_cancelled} cancelled" if event.n_cancelled else ""
            reused = f", {event.n_reused} reused" if event.n_reused else ""
            self._line(
                f"rpf: finished {event.n_ok}/{event.n_frames} frames ok{reused}, {event.n_failed} failed{cancelled} "
                f"in {event.seconds:.1f} s; summary {event.summary_csv}"
            )
            for fit in event.extinction:
                self._line(
                    f"rpf: night extinction in {fit['band']}: k = {fit['k']:.3f} ± {fit['k_err']:.3f} mag/airmass "
                    f"from {fit['n_frames']} frames ({event.extinction_json})"
                )
            for message in event.messages:
                self._line(f"rpf: {message}")
            if event.timings:
                self._line(f"rpf: time: {describe_timings(event.timings)}")

    def note(self, text: str) -> None:
        """Print one message line."""
        self._line(text, error=True)

    def _line(self, text: str, *, error: bool = False) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 90 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.tty and not error:
            self._bar("")


def run_with_progress(request: RunRequest, *, eager: bool = False, stack: bool = False) -> int:
    """Run a request, printing progress on stderr; return the contract's exit status.

    With ``stack`` the frames are processed in this process, co-added and the
    stack processed as one more frame (:func:`rpf.pipeline.stacking.stack_eager`).
    The run's timings (where its wall time went, ``RunFinished.timings``)
    are printed last and written to ``run_timings.json`` in ``out_dir``.

    Parameters
    ----------
    request : RunRequest
        What to run.
    eager : bool
        Run in this process (:func:`~rpf.pipeline.run_eager`) instead of on Dask.
    stack : bool
        Co-add the frames and process the stack too (in this process).

    Ctrl-C (SIGINT) cancels the unfinished frames: the run still writes the
    summary and the manifest of what finished, and the status is 2; a
    second Ctrl-C aborts at once (status 2, see :func:`rpf.cli.main`).

    Returns
    -------
    int
        0 when every frame succeeded, 2 when any failed or was cancelled.
    """
    from rpf.pipeline import run_eager, start_run
    from rpf.pipeline.stacking import stack_eager

    startup = process_age()  # the interpreter and the imports, before the run begins
    printer = ProgressPrinter(len(request.science) + (1 if stack else 0))
    cancel = threading.Event()
    handle = None
    if stack:
        events = stack_eager(request)
    elif eager:
        events = run_eager(request, cancel=cancel)
    else:
        handle = start_run(request)
        events = handle.events()

    def interrupted(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if handle is not None:
            handle.cancel()
        printer.note("rpf: interrupted: cancelling the unfinished frames, writing the summary of the finished ones "
                     "(Ctrl-C again to abort)")

    finished = None
    with _sigint(interrupted):
        for event in events:
            if event.kind == "run_finished":
                if event.timings and startup is not None:
                    event = replace(event, timings={"startup": round(startup, 4), **event.timings})
                finished = event
            printer(event)
    if finished is not None and finished.timings:
        write_atomic(Path(request.out_dir) / "run_timings.json", json.dumps(finished.timings, indent=1) + "\n")
    return 0 if finished is not None and finished.ok else 2


@contextlib.contextmanager
def _sigint(handler: Callable[[int, object], None]) -> Iterator[None]:
    """Handle Ctrl-C with ``handler`` (in the main thread only: elsewhere signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
