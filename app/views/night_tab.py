"""The dashboard's "Night" tab: the night view and the light curves, following the session's run.

The tab's models follow the session's :class:`~app.models.run.RunController`;
a frame clicked in the night view becomes the session's selected frame (its
image, table and diagnostics open), and a single star selected in the
frame's photometry table becomes the light curve's star.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from app.models.lightcurve import LightCurveModel
from app.models.night import NightModel
from app.views.lightcurve import LightCurveView
from app.views.night import NightView

__all__ = ["NightTab"]


class NightTab(pn.viewable.Viewer):
    """Night view and light curves of a dashboard session."""

    session = param.Parameter(doc="The dashboard's :class:`~app.models.session.Session`.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        session = self.session
        self.night = NightModel()
        self.night.follow(session.run)
        self.lightcurve = LightCurveModel(night=self.night)
        self.night.param.watch(self._frame_clicked, "frame")
        session.selection.param.watch(self._stars_selected, "stars")
        # frames chosen here or in the run's frames table are the same frames (a re-run takes them)
        self.night.param.watch(lambda event: session.selection.pick_frames(event.new), "selected")
        session.selection.param.watch(lambda event: self.night.select(event.new), "frames")
        self.night_view = NightView(night=self.night)
        self.lightcurve_view = LightCurveView(model=self.lightcurve)

    def _frame_clicked(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.session.selection.pick_frame(int(event.new))

    def _stars_selected(self, event: param.parameterized.Event) -> None:
        frame = self.session.selection.frame
        if len(event.new) == 1 and frame is not None:
            self.lightcurve.pick_row(frame, int(event.new[0]))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.night_view, pn.pane.Markdown("### Light curves"), self.lightcurve_view,
                         sizing_mode="stretch_width")  # fmt: skip
