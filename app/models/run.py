"""The run of a session: start, cancel, and turn pipeline events into frame rows and results.

Events flow one way: :func:`rpf.pipeline.start_run` -> :meth:`RunController.poll`
(never blocks; a view calls it from a periodic callback) -> params -> views.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import param

from app.models.frame_data import FrameData
from rpf.config import PipelineConfig
from rpf.errors import RPFError
from rpf.pipeline.events import Event, FrameDone, FrameFailed, FrameStarted, RunFinished, RunStarted, StageDone

__all__ = ["FRAME_COLUMNS", "RunController"]

FRAME_COLUMNS = (
    "frame", "status", "stage", "progress", "sources", "fwhm_arcsec", "zero_point", "zero_point_err",
    "limiting_mag", "airmass", "wcs", "message",
)  # fmt: skip
"""Columns of the frames table (one row per frame, index = frame position in the run)."""

STATES = ("idle", "running", "cancelling", "finished", "cancelled", "failed")


def _stage_count() -> int:
    from rpf.pipeline.stages import STAGES

    return len(STAGES)


def initial_rows(paths: Sequence[str]) -> pd.DataFrame:
    """One queued row per frame (typed columns, also when there are no frames)."""
    n = len(paths)
    text = {"status": "queued", "stage": "", "wcs": "", "message": ""}
    numbers = ("sources", "fwhm_arcsec", "zero_point", "zero_point_err", "limiting_mag", "airmass")
    columns = {
        "frame": pd.Series([Path(p).name for p in paths], dtype=object),
        **{c: pd.Series([v] * n, dtype=object) for c, v in text.items()},
        "progress": pd.Series([0] * n, dtype="int64"),
        **{c: pd.Series([float("nan")] * n, dtype="float64") for c in numbers},
    }
    return pd.DataFrame(columns)[list(FRAME_COLUMNS)]


def _done_values(event: FrameDone, n_stages: int) -> dict[str, Any]:
    meta = event.metadata

    def num(key: str) -> float:
        value = meta.get(key)
        return float("nan") if value is None else float(value)

    return {
        "status": "done",
        "stage": "products",
        "progress": n_stages,
        "sources": float(event.n_sources),
        "fwhm_arcsec": num("fwhm_arcsec"),
        "zero_point": num("zero_point"),
        "zero_point_err": num("zero_point_err"),
        "limiting_mag": num("limiting_mag"),
        "airmass": num("airmass"),
        "wcs": str(meta.get("wcs_source") or ""),
        "message": "; ".join(meta.get("warnings") or [])[:300],
    }


class RunController(param.Parameterized):
    """Owns a session's run: its frames, their status and their results.

    Parameters
    ----------
    cluster : object
        Gives ``client`` (a synchronous Dask client, or None while starting)
        and ``status`` (:class:`app.cluster.ClusterStatus`).
    folder : str
        Where this session's runs write their products (one sub-folder each).
    """

    cluster = param.Parameter(default=None, doc="The server's shared cluster.")
    folder = param.String(default="", doc="Products of this session's runs go below this folder.")
    state = param.Selector(default="idle", objects=list(STATES), doc="Where the run is.")
    message = param.String(default="", doc="Last problem or notice, in words (never a traceback).")
    frames = param.DataFrame(default=initial_rows([]), doc="One row per frame (replaced when a run starts).")
    changes = param.List(default=[], doc="Row updates of the last poll: ``(index, {column: value})``.")
    finished = param.Integer(default=0, doc="Frames finished (done or failed) so far.")
    last_finished = param.Integer(default=None, allow_None=True, doc="Index of the frame that finished last.")
    out_dir = param.String(default="", doc="Products folder of the current run.")
    summary = param.Parameter(default=None, doc="The RunFinished event of the last run.")
    log = param.List(default=[], item_type=str, doc="Run-level log lines, newest last.")
    keep_on_close = param.Boolean(default=False, doc="Let the run finish when the browser tab closes.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._handle: Any = None
        self._stages_done: dict[int, int] = {}
        self._n_stages = _stage_count()
        self._runs = 0
        self.results: dict[int, FrameData] = {}
        self.paths: list[str] = []

    @property
    def running(self) -> bool:
        """True while a run has not finished."""
        return self.state in ("running", "cancelling")

    def _say(self, line: str) -> None:
        self.log = [*self.log[-499:], line]

    def start(
        self,
        science: Sequence[str],
        *,
        config: PipelineConfig,
        bias: Sequence[str] = (),
        dark: Sequence[str] = (),
        flat: Sequence[str] = (),
    ) -> bool:
        """Submit a run to the cluster; return False (with a message) when it cannot start."""
        from rpf.pipeline import start_run

        if self.running:
            self.message = "a run is already going on: cancel it first"
            return False
        if not science:
            self.message = "choose science frames first (upload, server folder or demo frames)"
            return False
        client = getattr(self.cluster, "client", None)
        if client is None:
            status = getattr(self.cluster, "status", None)
            self.message = status.message if status is not None else "no Dask cluster"
            return False
        self._runs += 1
        out_dir = Path(self.folder) / f"run-{self._runs:03d}"
        self.paths = [str(p) for p in science]
        self.results = {}
        self._stages_done = {}
        self.param.update(
            frames=initial_rows(self.paths),
            changes=[],
            finished=0,
            last_finished=None,
            summary=None,
            out_dir=str(out_dir),
            message="",
        )
        try:
            self._handle = start_run(
                self.paths, config=config, out_dir=out_dir, bias=bias, dark=dark, flat=flat, client=client
            )
        except RPFError as exc:
            self.param.update(state="failed", message=str(exc))
            return False
        self.state = "running"
        self._say(f"run {self._runs}: {len(self.paths)} frame(s) submitted")
        return True

    def cancel(self) -> None:
        """Cancel the unfinished frames; the finished ones are kept."""
        if self._handle is not None and self.running:
            self._handle.cancel()
            self.state = "cancelling"
            self._say("cancelling the unfinished frames")

    def poll(self) -> list[Event]:
        """Apply the events that arrived since the last call (never waits)."""
        if self._handle is None:
            return []
        try:
            events = self._handle.poll()
        except Exception as exc:  # noqa: BLE001 - the run's thread died: say why, keep the session alive
            self._handle = None
            self.param.update(state="failed", message=f"the run stopped: {type(exc).__name__}: {exc}")
            self._say(self.message)
            return []
        if not events:
            return []
        changes: list[tuple[int, dict[str, Any]]] = []
        with param.parameterized.batch_call_watchers(self):
            for event in events:
                for index, values in self._apply(event):
                    for column, value in values.items():
                        self.frames.at[index, column] = value
                    changes.append((index, values))
            self.changes = changes
        return events

    def _apply(self, event: Event) -> list[tuple[int, dict[str, Any]]]:
        if isinstance(event, RunStarted):
            self._say(f"running on {event.scheduler}")
            return []
        if isinstance(event, FrameStarted):
            return [(event.index, {"status": "running"})]
        if isinstance(event, StageDone):
            done = self._stages_done[event.index] = self._stages_done.get(event.index, 0) + 1
            return [(event.index, {"status": "running", "stage": event.stage, "progress": min(done, self._n_stages)})]
        if isinstance(event, FrameDone):
            self.results[event.index] = FrameData(event.index, event.result)
            self.param.update(finished=self.finished + 1, last_finished=event.index)
            self._say(f"{Path(event.path).name}: done, {event.n_sources} sources")
            return [(event.index, _done_values(event, self._n_stages))]
        if isinstance(event, FrameFailed):
            self.param.update(finished=self.finished + 1, last_finished=event.index)
            self._say(event.message)
            return [(event.index, {"status": "failed", "stage": event.stage or "", "message": event.message})]
        if isinstance(event, RunFinished):
            return self._finish(event)
        return []

    def _finish(self, event: RunFinished) -> list[tuple[int, dict[str, Any]]]:
        unfinished = self.frames.index[self.frames["status"].isin(["queued", "running"])]
        state = "cancelled" if event.cancelled else "finished"
        self.param.update(state=state, summary=event)
        self._handle = None
        self._say(f"run {state}: {event.n_ok} ok, {event.n_failed} failed in {event.seconds:.1f} s")
        for line in event.messages:
            self._say(line)
        return [(int(i), {"status": "cancelled"}) for i in unfinished]

    def frame(self, index: int | None) -> FrameData | None:
        """The results of a finished frame (None while it runs or when it failed)."""
        return None if index is None else self.results.get(index)

    def close(self) -> None:
        """The session ends: cancel the run unless asked to keep it."""
        if self._handle is not None and self.running and not self.keep_on_close:
            self._handle.cancel()
        self._handle = None
