"""The whole dashboard of one session: sidebar (inputs, run) and the live run view."""

from __future__ import annotations

import html

import panel as pn
import param

from app.comms import UPDATE_LOCK
from app.models.session import Session
from app.views.account import AccountPanel
from app.views.compare import CompareView
from app.views.diagnostics import MagErrorPlot, ZeroPointPlot
from app.views.frames import FramesTable
from app.views.image import ImageView
from app.views.inputs import InputsPanel
from app.views.night_tab import NightTab
from app.views.photometry import PhotTable
from app.views.products import Downloads, LogView, PsfView
from app.views.run_controls import RunControls
from app.views.settings import SettingsView
from app.views.sky import SkyContext

__all__ = ["Dashboard"]

POLL_MS = 200
"""How often a session applies the run's new events (ms)."""

TITLE = "RPF · RAPAS Photometry Factory"


class Dashboard(pn.viewable.Viewer):
    """All views of one session, built from its :class:`~app.models.session.Session`."""

    session = param.ClassSelector(class_=Session)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        session = self.session
        self.inputs = InputsPanel(session=session)
        self.controls = RunControls(session=session)
        self.account = AccountPanel(session=session)
        self.frames = FramesTable(session=session)
        self.image = ImageView(session=session)
        self.phot = PhotTable(session=session)
        self.views = {
            "Zero point": ZeroPointPlot(session=session),
            "Mag vs error": MagErrorPlot(session=session),
            "PSF": PsfView(session=session),
            "Sky": SkyContext(session=session),
            "Products": Downloads(session=session),
            "Log": LogView(session=session),
        }
        self.pages: dict[str, pn.viewable.Viewable] = {
            "Run": self.run_page(),
            "Night": NightTab(session=session),
            "Compare runs": CompareView(session=session),
            "Settings": SettingsView(session=session),
        }
        """The main area's tabs, in order (add a page here: ``pages["Night"] = view``)."""
        self._callback = None

    def tick(self) -> None:
        """Apply new run events and refresh the cluster's state (never waits)."""
        with UPDATE_LOCK:  # in a notebook, a browser message waits (app.comms)
            self.session.run.poll()
            status = self.session.run.cluster.status
            link = f" · [Dask dashboard]({html.escape(status.dashboard)})" if status.dashboard else ""
            self.controls.param.update(
                cluster_message=f"Cluster: {status.message}{link}", cluster_ready=status.state == "ready"
            )

    def start(self) -> None:
        """Start polling the run from the session's event loop (once)."""
        if self._callback is None:
            self.tick()
            self._callback = pn.state.add_periodic_callback(self.tick, period=POLL_MS)

    def close(self) -> None:
        """End the session: stop polling, cancel the run unless kept, delete the session's files."""
        if self._callback is not None:
            self._callback.stop()
        self._callback = None
        self.session.close()

    def sidebar(self) -> list[pn.viewable.Viewable]:
        """Return what goes in the template's sidebar."""
        return [pn.pane.Markdown("### Account"), self.account, pn.layout.Divider(), pn.pane.Markdown("### Frames"),
                self.inputs, pn.layout.Divider(), pn.pane.Markdown("### Run"), self.controls]  # fmt: skip

    def run_page(self) -> pn.viewable.Viewable:
        """Build the live run view (frames, image, diagnostics, photometry)."""
        tabs = pn.Tabs(*self.views.items(), dynamic=True, sizing_mode="stretch_width", name="diagnostics")
        return pn.Column(
            self.frames,
            pn.Row(self.image, pn.Column(tabs, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.pane.Markdown("#### Photometry of the frame on screen"),
            self.phot,
            sizing_mode="stretch_width",
        )

    def main(self) -> pn.viewable.Viewable:
        """Return the main area: one tab per page."""
        return pn.Tabs(*self.pages.items(), dynamic=True, sizing_mode="stretch_width", name="pages")

    def __panel__(self) -> pn.viewable.Viewable:
        self.start()
        return pn.Row(pn.Column(*self.sidebar(), width=340), self.main(), sizing_mode="stretch_width")

    def template(self) -> pn.template.BaseTemplate:
        """Return the page served by ``rpf serve`` (no external fonts or scripts: it works offline)."""
        self.start()
        return pn.template.BootstrapTemplate(
            title=TITLE, sidebar=self.sidebar(), main=[self.main()], sidebar_width=360, header_background="#22304a"
        )
