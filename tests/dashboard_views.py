"""Helpers of the dashboard view tests: a session fed with finished frames, a page of the result views.

The frames come from an eager run of the pipeline (:func:`rpf.pipeline.run_eager`)
on small simulated frames; :func:`show_frame` hands a finished frame to a
session as the run controller does on ``FrameDone`` (its result stored, the
frame selected), so the views can be tested without a Dask cluster.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import holoviews as hv
import panel as pn
from panel.io.server import get_server
from tornado.ioloop import IOLoop

from app.models.frame_data import FrameData
from app.models.session import Session
from app.options import ServeOptions
from app.views.diagnostics import MagErrorPlot, ZeroPointPlot
from app.views.image import ImageView
from app.views.photometry import PhotTable
from app.views.sky import SkyContext
from rpf.config import PipelineConfig
from rpf.pipeline import RunRequest, run_eager
from rpf.pipeline.events import FrameDone
from rpf.simulate import write_demo_dataset


def eager_frames(folder: Path, *, n_frames: int = 2, shape: tuple[int, int] = (384, 384)) -> list[FrameDone]:
    """Run the pipeline eagerly on simulated frames (reference catalogue file, PSF photometry)."""
    paths = write_demo_dataset(folder / "raw", n_frames=n_frames, seed=5, shape=shape, n_calib=1)
    config = PipelineConfig().replace(
        catalogs={"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
        psf={"enabled": True},
    )
    request = RunRequest(science=paths["science"], out_dir=str(folder / "out"), config=config)
    return [event for event in run_eager(request) if isinstance(event, FrameDone)]


def new_session(folder: Path) -> Session:
    """A session with no cluster (the views only read finished frames)."""
    return Session(options=ServeOptions(data_dir=folder), cluster=None)


def show_frame(session: Session, event: FrameDone) -> FrameData:
    """Store a finished frame in the session's run and select it, as on ``FrameDone``."""
    data = FrameData(event.index, event.result)
    session.run.results[event.index] = data
    session.selection.pick_frame(event.index)
    return data


VIEWS = {"image": ImageView, "phot": PhotTable, "zp": ZeroPointPlot, "magerr": MagErrorPlot, "sky": SkyContext}
"""The result views by short name."""


class ViewsPage:
    """The result views of one session, served on 127.0.0.1 (a free port) from a thread."""

    def __init__(self, session_factory: Any, *, views: tuple[str, ...] = tuple(VIEWS)) -> None:
        self.sessions: list[dict[str, Any]] = []
        self._factory = session_factory
        self._views = views
        self.closed = 0
        self.server = None

    def _page(self) -> pn.viewable.Viewable:
        session = self._factory()
        views = {name: VIEWS[name](session=session) for name in self._views}
        entry = {"session": session, "views": views, "doc": pn.state.curdoc}
        self.sessions.append(entry)

        def closed(_: Any) -> None:
            session.close()
            self.sessions.remove(entry)
            self.closed += 1

        pn.state.on_session_destroyed(closed)
        return pn.Column(*views.values(), width=1200)

    def start(self, **server: Any) -> str:
        """Serve the page (``server``: more Bokeh server options); return its URL."""
        hv.extension("bokeh", logo=False)
        pn.extension("tabulator")
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())
            loop = IOLoop.current()
            self.server = get_server(
                self._page, address="127.0.0.1", port=0, show=False, start=False, loop=loop, **server
            )
            self.server.start()
            ready.set()
            loop.start()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(30), "the server did not start"
        return f"http://127.0.0.1:{self.server.port}/"

    def run_in_session(self, index: int, fn: Any) -> None:
        """Call ``fn(session)`` on a session's event loop (as Panel callbacks run) and wait."""
        entry = self.sessions[index]
        done = threading.Event()
        failed: list[BaseException] = []

        def call() -> None:
            try:
                fn(entry["session"])
            except BaseException as exc:  # handed to the caller below
                failed.append(exc)
            finally:
                done.set()

        entry["doc"].add_next_tick_callback(call)
        assert done.wait(60), "the session's callback did not run"
        if failed:
            raise failed[0]

    def stop(self) -> None:
        """Stop the server."""
        if self.server is not None:
            loop = self.server.io_loop
            loop.add_callback(self.server.stop)
            loop.add_callback(loop.stop)
            self._thread.join(10)
