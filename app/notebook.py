"""The night view in JupyterLab (or any Panel server): a run button, the quality plots, the light curves.

In a notebook::

    import panel as pn
    pn.extension("tabulator")
    from app.notebook import NightApp
    app = NightApp.demo()          # or NightApp(request=RunRequest(...))
    app                            # the dashboard in the output cell; press "Run the night"

The same models drive the views and the Python side: ``app.night.table()``
(pandas), ``app.lightcurve(ra, dec)`` (:class:`rpf.lightcurves.StarLightCurve`,
astropy tables), ``app.night.photometry(index)`` (pandas).  ``app.start()``
and ``app.wait()`` run the night from code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

from app.comms import UPDATE_LOCK, guard_comm_messages
from app.models.lightcurve import LightCurveModel
from app.models.night import NightModel
from app.models.night_demo import NightDemo, demo_config, write_night_demo
from app.models.run import RunController
from app.views.lightcurve import LightCurveView
from app.views.night import NightView
from rpf.lightcurves import StarLightCurve
from rpf.pipeline import RunRequest

__all__ = ["NightApp"]

POLL_MS = 300
"""How often the app applies its run's new events (ms)."""

NOTEBOOK_EXECUTION = {"n_workers": 1, "processes": True, "dashboard_address": None}
"""The demo's Dask cluster: one worker process (the kernel or server stays responsive), no Dask dashboard port."""


class NightApp(pn.viewable.Viewer):
    """A night's run with its night view and light curves, for a notebook or a served page.

    Parameters
    ----------
    request : RunRequest
        The frames to reduce and how.
    client : distributed.Client, optional
        A synchronous Dask client to run on (default: a cluster opened for
        each run from ``request.config.execution``).
    """

    request = param.ClassSelector(class_=RunRequest, doc="The run to start.")
    client = param.Parameter(default=None, doc="Dask client (None: a cluster per run).")
    run = param.ClassSelector(class_=RunController, doc="The run: state, frame rows, results, re-runs.")
    night = param.ClassSelector(class_=NightModel, doc="The night's quality and stars.")
    lightcurve_model = param.ClassSelector(class_=LightCurveModel, doc="The chosen star's light curve.")
    demo_night = param.ClassSelector(class_=NightDemo, default=None, allow_None=True, doc="The demo's truth.")

    def __init__(self, **params: Any) -> None:
        night = params.pop("night", None) or NightModel()
        params.setdefault("lightcurve_model", LightCurveModel(night=night))
        params.setdefault("run", RunController())
        super().__init__(night=night, **params)
        guard_comm_messages()
        self.night.follow(self.run)
        self._callback: Any = None
        self.run_button = pn.widgets.Button(label="Run the night", color="primary", width=160)
        self.run_button.on_click(lambda _: self.start())
        self.cancel_button = pn.widgets.Button(label="Cancel", width=100, disabled=True)
        self.cancel_button.on_click(lambda _: self.run.cancel())
        self.status = pn.pane.Markdown(self._status_text(), name="night-status")
        self.run.param.watch(self._state_changed, ["state", "message"])
        self.night.param.watch(self._state_changed, ["finished"])
        self.night_view = NightView(night=self.night)
        self.lightcurve_view = LightCurveView(model=self.lightcurve_model)

    @classmethod
    def demo(cls, folder: str | Path | None = None, *, n_frames: int = 8, size: int = 256,
             client: Any = None) -> NightApp:  # fmt: skip
        """Write the demo night (:func:`app.models.night_demo.write_night_demo`) and return an app to run it."""
        folder = Path(tempfile.mkdtemp(prefix="rpf-night-")) if folder is None else Path(folder)
        demo = write_night_demo(folder / "frames", n_frames=n_frames, size=size)
        config = demo_config(demo).replace(execution=NOTEBOOK_EXECUTION)
        request = RunRequest(science=demo.science, bias=demo.bias, dark=demo.dark, flat=demo.flat,
                             out_dir=str(folder / "out"), config=config)  # fmt: skip
        return cls(request=request, client=client, demo_night=demo)

    # ---- running -------------------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the run; new events are applied every :data:`POLL_MS` while a Panel server or kernel runs."""
        if not self.run.submit(self.request, client=self.client):
            return False
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self._tick, period=POLL_MS)
        return True

    def _tick(self) -> None:
        with UPDATE_LOCK:  # a browser message waits (app.comms)
            self.run.poll()
        if not self.run.running and self._callback is not None:
            self._callback.stop()
            self._callback = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run finished and apply its events (from code, never from a callback)."""
        self.run.wait(timeout)

    def _status_text(self) -> str:
        night, run = self.night, self.run
        text = f"Run: **{run.state}** · {night.finished} of {night.n_frames or len(self.request.science)} frames"
        return text + (f" · {run.message}" if run.message else "")

    def _state_changed(self, *_: Any) -> None:
        self.status.object = self._status_text()
        self.run_button.disabled = self.run.running
        self.cancel_button.disabled = not self.run.running

    # ---- results -------------------------------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """Return the night's quality table (pandas, one row per frame, flags and reasons)."""
        return self.night.table()

    def lightcurve(self, ra: float | None = None, dec: float | None = None, **options: Any) -> StarLightCurve:
        """Return a star's light curve (see :meth:`app.models.night.NightModel.lightcurve`)."""
        return self.night.lightcurve(ra, dec, **options)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self.run_button, self.cancel_button, self.status),
            self.night_view,
            pn.pane.Markdown("### Light curves"),
            self.lightcurve_view,
            sizing_mode="stretch_width",
            name="night-app",
        )
