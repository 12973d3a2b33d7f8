"""Zero-point panels and magnitude vs error of the frame on screen, linked to the selection."""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from app.models.frame_data import FrameData
from app.models.session import Session
from app.views.linked import SELECT_TOOLS, linked_points, session_streams, when_frame

__all__ = ["MagErrorPlot", "ZeroPointPlot"]

SIZE = dict(frame_width=330, frame_height=210)
ZERO_LINE = {"color": "black", "line_dash": "dashed", "line_width": 1}
STATE_COLOURS = {"used": "#1f77b4", "rejected": "#aaaaaa"}


def _calibrators(frame: FrameData) -> pd.DataFrame:
    calibrators = frame.calibrators
    used = calibrators["used"].to_numpy(bool)
    colour = np.where(used, STATE_COLOURS["used"], STATE_COLOURS["rejected"])
    return calibrators.assign(state=np.where(used, "used", "rejected"), colour=colour)


def _stars(frame: FrameData) -> pd.DataFrame:
    phot = frame.phot
    ok = np.isfinite(phot["mag"].to_numpy(float)) & (phot["mag_err"].to_numpy(float) > 0)
    return phot[ok].assign(row=np.flatnonzero(ok))


def _points(session: Session, table, x: str, y: str, *, xlabel: str, ylabel: str, **opts) -> hv.Overlay:
    return linked_points(
        session,
        table,
        kdims=[x, y],
        vdims=["state", "colour"] if table is _calibrators else ["id", "snr"],
        points_opts=dict(
            tools=SELECT_TOOLS, size=6, xlabel=xlabel, ylabel=ylabel, nonselection_alpha=0.25, framewise=True, **SIZE,
            **({"color": "colour"} if table is _calibrators else {}),
            **opts,
        ),
    )  # fmt: skip


class ZeroPointPlot(pn.viewable.Viewer):
    """Catalogue vs instrumental magnitude with the fit; residuals vs magnitude and colour."""

    session = param.ClassSelector(class_=Session)

    def _fit(self, shown: FrameData | None) -> hv.Overlay:
        zp = math.nan if shown is None else shown.number("zero_point")
        calibrators = _calibrators(shown) if shown is not None else pd.DataFrame({"inst": []})
        inst = calibrators["inst"].to_numpy(float)
        if not (np.isfinite(zp) and inst.size):
            # labelled like the fit, so the legend exists from the first render: a legend added by a
            # later update has no view in BokehJS and breaks the page ("cannot find a view for Legend")
            return hv.Curve([], "inst", "cat_mag", label="zero point")
        xs = np.array([np.nanmin(inst) - 0.5, np.nanmax(inst) + 0.5])
        label = f"zero point {zp:.3f} ± {shown.number('zero_point_err'):.3f}"
        return hv.Curve((xs, xs + zp), "inst", "cat_mag", label=label).opts(
            color="black", line_dash="dashed", framewise=True
        )

    def __panel__(self) -> pn.viewable.Viewable:
        frame = [session_streams(self.session)[0]]
        fit = hv.DynamicMap(self._fit, streams=frame)
        main = (
            _points(self.session, _calibrators, "inst", "cat_mag", xlabel="instrumental mag (per s)",
                    ylabel="catalogue mag") * fit
        ).opts(legend_position="top_left", title="Catalogue vs instrumental", show_legend=True)  # fmt: skip
        by_mag = _points(
            self.session, _calibrators, "cat_mag", "residual", xlabel="catalogue mag", ylabel="catalogue - calibrated"
        ) * hv.HLine(0.0).opts(**ZERO_LINE)
        by_color = _points(
            self.session, _calibrators, "bp_rp", "residual", xlabel="colour (BP-RP)", ylabel="catalogue - calibrated"
        ) * hv.HLine(0.0).opts(**ZERO_LINE)
        return when_frame(
            self.session,
            "The zero-point fit of a frame appears here when it finishes.",
            pn.pane.HoloViews(main, linked_axes=False),
            pn.pane.HoloViews(by_mag.opts(title="Residuals vs magnitude"), linked_axes=False),
            pn.pane.HoloViews(by_color.opts(title="Residuals vs colour"), linked_axes=False),
            css_classes=["rpf-zero-point-view"],
        )


class MagErrorPlot(pn.viewable.Viewer):
    """Magnitude error vs magnitude of every source, with the limiting magnitude."""

    session = param.ClassSelector(class_=Session)

    def _limit(self, shown: FrameData | None) -> hv.VLine:
        limit = math.nan if shown is None else shown.number("limiting_mag")
        return hv.VLine(limit if np.isfinite(limit) else 0.0).opts(
            color="#d62728", line_dash="dashed", alpha=1.0 if np.isfinite(limit) else 0.0
        )

    def _label(self, shown: FrameData | None) -> str:
        limit = math.nan if shown is None else shown.number("limiting_mag")
        return f"Limiting magnitude (5σ): **{limit:.2f}**" if np.isfinite(limit) else ""

    def __panel__(self) -> pn.viewable.Viewable:
        frame = [session_streams(self.session)[0]]
        plot = _points(
            self.session, _stars, "mag", "mag_err", xlabel="calibrated magnitude", ylabel="magnitude error", logy=True
        ) * hv.DynamicMap(self._limit, streams=frame)
        return when_frame(
            self.session,
            "Magnitudes and errors of a frame appear here when it finishes.",
            pn.pane.HoloViews(plot.opts(title="Magnitude vs error"), linked_axes=False),
            pn.pane.Markdown(pn.bind(self._label, self.session.param.shown)),
            css_classes=["rpf-mag-error-view"],
        )
