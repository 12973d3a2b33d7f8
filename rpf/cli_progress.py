"""Consume a run's event stream on the terminal: a progress bar or log lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from rpf.atomic import write_atomic
from rpf.pipeline.request import RunRequest
from rpf.pipeline.timings import describe_timings

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
            self._line(
                f"rpf: finished {event.n_ok}/{event.n_frames} frames ok, {event.n_failed} failed "
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

    Returns
    -------
    int
        0 when every frame succeeded, 2 when any failed.
    """
    from rpf.pipeline import run, run_eager
    from rpf.pipeline.stacking import stack_eager

    printer = ProgressPrinter(len(request.science) + (1 if stack else 0))
    runner = stack_eager if stack else run_eager if eager else run
    finished = None
    for event in runner(request):
        printer(event)
        if event.kind == "run_finished":
            finished = event
    if finished is not None and finished.timings:
        write_atomic(Path(request.out_dir) / "run_timings.json", json.dumps(finished.timings, indent=1) + "\n")
    return 0 if finished is not None and finished.ok else 2
