"""The run of a session: start, cancel, and turn pipeline events into frame rows and results.

Events flow one way: :func:`rpf.pipeline.start_run` -> :meth:`RunController.poll`
(never blocks; a view calls it from a periodic callback) -> params -> views.
:meth:`RunController.rerun` runs frames again with changed parameters,
computing only the steps whose inputs changed, and compares the two runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
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
    "frame", "status", "stage", "progress", "reused", "sources", "fwhm_arcsec", "zero_point", "zero_point_err",
    "limiting_mag", "airmass", "wcs", "message",
)  # fmt: skip
"""Columns of the frames table (one row per frame, index = frame position in the run)."""

NO_FRAMES = "choose science frames first (upload, server folder or demo frames)"

STATES = ("idle", "running", "cancelling", "finished", "cancelled", "failed")


def _stage_count() -> int:
    from rpf.pipeline import STAGE_NAMES

    return len(STAGE_NAMES)


def initial_rows(paths: Sequence[str]) -> pd.DataFrame:
    """One queued row per frame (typed columns, also when there are no frames)."""
    n = len(paths)
    text = {"status": "queued", "stage": "", "wcs": "", "message": ""}
    numbers = ("sources", "fwhm_arcsec", "zero_point", "zero_point_err", "limiting_mag", "airmass")
    columns = {
        "frame": pd.Series([Path(p).name for p in paths], dtype=object),
        **{c: pd.Series([v] * n, dtype=object) for c, v in text.items()},
        "progress": pd.Series([0] * n, dtype="int64"),
        "reused": pd.Series([0] * n, dtype="int64"),
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
        "reused": len(meta.get("reused_stages") or []),
        "sources": float(event.n_sources),
        "fwhm_arcsec": num("fwhm_arcsec"),
        "zero_point": num("zero_point"),
        "zero_point_err": num("zero_point_err"),
        "limiting_mag": num("limiting_mag"),
        "airmass": num("airmass"),
        "wcs": str(meta.get("wcs_source") or ""),
        "message": "; ".join(meta.get("warnings") or [])[:300],
    }


def _reuse_note(metadata: dict[str, Any]) -> str:
    reused = list(metadata.get("reused_stages") or [])
    if not reused:
        return ""
    return f"; reused {len(reused)} step(s) ({reused[0]} .. {reused[-1]}), computed the rest"


class RunController(param.Parameterized):
    """Owns a session's run: its frames, their status and their results.

    Parameters
    ----------
    cluster : object, optional
        Gives ``client`` (a synchronous Dask client, or None while starting)
        and ``status`` (:class:`app.cluster.ClusterStatus`); None: each run
        opens its own cluster from ``config.execution`` (a notebook).
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
    comparison = param.Parameter(default=None, doc="A re-run against the run before it (rpf.night.RunComparison).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._handle: Any = None
        self._stages_done: dict[int, int] = {}
        self._reused: dict[int, int] = {}
        self._n_stages = _stage_count()
        self._runs = 0
        self._request: Any = None
        self._folders: list[str] = []
        self._before: list[Any] = []
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
        from rpf.pipeline import RunRequest

        if not science:
            self.message = NO_FRAMES
            return False
        request = RunRequest(science=tuple(science), out_dir=self._next_folder(), bias=tuple(bias),
                             dark=tuple(dark), flat=tuple(flat), config=config)  # fmt: skip
        self._before = []
        return self.submit(request)

    def rerun(self, indices: Sequence[int] = (), *, config: PipelineConfig) -> bool:
        """Run some frames of the last run again with ``config``; only the steps whose inputs changed compute.

        The re-run writes a new folder (the earlier runs stay, for the
        comparison) and resumes each frame from the latest checkpoint an
        earlier run of this session left (``RunRequest.reuse_from``).  When
        it finishes, :attr:`comparison` holds it against the run before.

        Parameters
        ----------
        indices : sequence of int
            Frames of the last run (its row indices); empty: all of them.
        config : PipelineConfig
            The changed parameters.
        """
        last = self._request
        if last is None:
            self.message = "run the frames once first: a re-run changes an earlier run"
            return False
        unknown = [i for i in indices if not 0 <= int(i) < len(self.paths)]
        if unknown:
            self.message = f"no frame {unknown[0]} in the last run"
            return False
        chosen = [self.paths[int(i)] for i in sorted(set(indices))] or list(self.paths)
        before = [data.result for data in self.results.values() if data.result.path in chosen]
        request = replace(last, science=tuple(chosen), out_dir=self._next_folder(), config=config, reuse=True,
                          reuse_from=tuple(reversed(self._folders)))  # fmt: skip
        if not self.submit(request):
            return False
        self._before = before
        self._say(f"re-run of {len(chosen)} frame(s): steps whose inputs did not change are reused")
        return True

    def _next_folder(self) -> str:
        return str(Path(self.folder) / f"run-{self._runs + 1:03d}")

    def submit(self, request: Any, *, client: Any = None) -> bool:
        """Submit a :class:`rpf.pipeline.RunRequest` (its frames become the rows); False with a message if not.

        ``client`` (a synchronous Dask client) runs it; default: the
        cluster's client, or without a cluster one opened for this run
        from ``request.config.execution``.
        """
        from rpf.pipeline import start_run

        if self.running:
            self.message = "a run is already going on: cancel it first"
            return False
        client = client if client is not None else getattr(self.cluster, "client", None)
        if client is None and self.cluster is not None:
            status = getattr(self.cluster, "status", None)
            self.message = status.message if status is not None else "no Dask cluster"
            return False
        self._runs += 1
        self.paths = list(request.science)
        self.results = {}
        self._stages_done, self._reused = {}, {}
        self.param.update(
            frames=initial_rows(self.paths), changes=[], finished=0, last_finished=None, summary=None,
            comparison=None, out_dir=request.out_dir, message="",
        )  # fmt: skip
        try:
            self._handle = start_run(request, client=client)
        except RPFError as exc:
            self.param.update(state="failed", message=str(exc))
            return False
        self._request = request
        self._folders.append(request.out_dir)
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
            reused = self._reused[event.index] = self._reused.get(event.index, 0) + bool(event.reused)
            return [(event.index, {"status": "running", "stage": event.stage, "progress": min(done, self._n_stages),
                                   "reused": reused})]  # fmt: skip
        if isinstance(event, FrameDone):
            self.results[event.index] = FrameData(event.index, event.result)
            self.param.update(finished=self.finished + 1, last_finished=event.index)
            self._say(f"{Path(event.path).name}: done, {event.n_sources} sources{_reuse_note(event.metadata)}")
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
        self.param.update(state=state, summary=event, comparison=self._compare())
        self._handle = None
        self._say(f"run {state}: {event.n_ok} ok, {event.n_failed} failed in {event.seconds:.1f} s")
        for line in event.messages:
            self._say(line)
        return [(int(i), {"status": "cancelled"}) for i in unfinished]

    def _compare(self) -> Any:
        if not self._before:
            return None
        from rpf.night import compare_runs

        return compare_runs(self._before, [data.result for data in self.results.values()])

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run finished and apply its events (scripts and notebooks, never a callback)."""
        if self._handle is not None:
            self._handle.wait(timeout)
            self.poll()

    def frame(self, index: int | None) -> FrameData | None:
        """Return the results of a finished frame (None while it runs or when it failed)."""
        return None if index is None else self.results.get(index)

    def close(self) -> Any:
        """End the session's run: cancel it unless asked to keep it; return its handle (None if no run).

        The handle's ``done`` and ``wait()`` tell when the run's thread has
        stopped writing products (for whoever deletes the session's folder).
        """
        handle, self._handle = self._handle, None
        if handle is not None and self.running and not self.keep_on_close:
            handle.cancel()
        return handle
